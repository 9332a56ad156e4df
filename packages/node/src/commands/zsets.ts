import type { HandlerMap } from './types.js';

export const zsetHandlers: HandlerMap = {};
