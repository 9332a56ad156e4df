import { Kind, type RObject } from './values.js';

/** A hash: field → value, insertion-ordered. */
export class HashValue implements RObject {
  readonly kind = Kind.Hash;
  readonly map = new Map<string, string>();
  get size(): number {
    return this.map.size;
  }
}
