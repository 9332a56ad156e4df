import { type CommandSpec } from './spec.js';

export const keyCommands: CommandSpec[] = [];
