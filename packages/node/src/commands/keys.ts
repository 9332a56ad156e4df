import type { HandlerMap } from './types.js';

export const keyHandlers: HandlerMap = {};
