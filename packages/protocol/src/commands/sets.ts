import { type CommandSpec } from './spec.js';

export const setCommands: CommandSpec[] = [];
