import type { ReplyError } from './errors.js';

/** A reply as the client returns it: RESP3 maps as objects, doubles as numbers, sets as arrays. */
export type Reply = string | number | bigint | boolean | null | Buffer | ReplyError | Reply[] | { [field: string]: Reply };
