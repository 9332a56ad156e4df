import type { HandlerMap } from './types.js';

export const setHandlers: HandlerMap = {};
