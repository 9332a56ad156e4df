import { type CommandSpec } from './spec.js';

export const serverCommands: CommandSpec[] = [];
