import type { HandlerMap } from './types.js';

export const hashHandlers: HandlerMap = {};
