import { type CommandSpec } from './spec.js';

export const zsetCommands: CommandSpec[] = [];
