import { Kind, type RObject } from './values.js';
import { stringBytes } from './memory.js';

/**
 * The field → value map of a hash. It keeps `elems`, the bytes of its fields and values
 * (engine/memory.ts), up to date on every change, so the keyspace's memory accounting
 * costs O(1) per changed field whichever handler changes the map.
 */
export class HashMap extends Map<string, string> {
  elems = 0;

  override set(field: string, value: string): this {
    const old = super.get(field);
    this.elems += old === undefined ? stringBytes(field) + stringBytes(value) : stringBytes(value) - stringBytes(old);
    return super.set(field, value);
  }

  override delete(field: string): boolean {
    const old = super.get(field);
    if (old === undefined) return false;
    this.elems -= stringBytes(field) + stringBytes(old);
    return super.delete(field);
  }

  override clear(): void {
    this.elems = 0;
    super.clear();
  }
}

/** A hash: field → value, insertion-ordered. */
export class HashValue implements RObject {
  readonly kind = Kind.Hash;
  readonly map = new HashMap();
  /** Memory accounting (engine/memory.ts): the size last added to the database's total. */
  accounted = 0;
  get size(): number {
    return this.map.size;
  }
  get elems(): number {
    return this.map.elems;
  }
}
