import type { HandlerMap } from './types.js';

export const serverHandlers: HandlerMap = {};
