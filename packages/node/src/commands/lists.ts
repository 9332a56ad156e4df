import type { HandlerMap } from './types.js';

export const listHandlers: HandlerMap = {};
