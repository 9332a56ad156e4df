export { runRouter } from './main.js';
export { Router } from './router.js';
export { parseRouterArgs, RouterConfigError, ROUTER_USAGE, type RouterOptions } from './options.js';
export { ReplyScanner, valueEnd, elements } from './scanner.js';
export { SlotMap } from './topology.js';
