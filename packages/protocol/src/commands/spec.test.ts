import { describe, expect, it } from 'vitest';
import { command, keyAfter, keyAt, keysByCount, keyPositions } from './spec.js';
import { lookupCommand } from './table.js';

const doc = { group: 'test', since: '7.0.0', summary: 'test' };
const argv = (s: string): string[] => s.split(' ');

describe('keyPositions', () => {
  it('GET: one key at 1', () => {
    expect(keyPositions(lookupCommand('get')!, argv('GET k'))).toEqual([1]);
  });

  it('MGET: every argument after the name', () => {
    expect(keyPositions(lookupCommand('mget')!, argv('MGET a b c'))).toEqual([1, 2, 3]);
  });

  it('MSET: every other argument', () => {
    expect(keyPositions(lookupCommand('mset')!, argv('MSET a 1 b 2 c 3'))).toEqual([1, 3, 5]);
  });

  it('looks commands up in any case', () => {
    expect(keyPositions(lookupCommand('mGeT')!, argv('mGeT a'))).toEqual([1]);
  });

  it('legacy first/last/step follow the key specs', () => {
    const mset = lookupCommand('mset')!;
    expect([mset.firstKey, mset.lastKey, mset.step]).toEqual([1, -1, 2]);
    const get = lookupCommand('get')!;
    expect([get.firstKey, get.lastKey, get.step]).toEqual([1, 1, 1]);
  });

  // ZUNIONSTORE dest numkeys key [key ...] [WEIGHTS ...]
  const zunionstore = command('zunionstore', -4, 'write denyoom', { ...doc, keys: [keyAt('OW UPDATE', 1), keysByCount('RO ACCESS', 2, 0, 1, 1)] });

  it('keynum spec (ZUNIONSTORE-like): destination, then numkeys keys', () => {
    expect(keyPositions(zunionstore, argv('ZUNIONSTORE d 2 a b WEIGHTS 1 2'))).toEqual([1, 3, 4]);
    expect(keyPositions(zunionstore, argv('ZUNIONSTORE d 0'))).toEqual([1]);
    expect(zunionstore.flags.has('movablekeys')).toBe(true);
  });

  it('keynum: a count past the arguments yields only those present; a non-number yields none', () => {
    expect(keyPositions(zunionstore, argv('ZUNIONSTORE d 5 a b'))).toEqual([1, 3, 4]);
    expect(keyPositions(zunionstore, argv('ZUNIONSTORE d x a b'))).toEqual([1]);
    expect(keyPositions(zunionstore, argv('ZUNIONSTORE d -1 a b'))).toEqual([1]);
  });

  // EVAL script numkeys key [key ...] arg [arg ...]
  const evalLike = command('eval', -3, 'noscript', { ...doc, keys: [keysByCount('RW ACCESS UPDATE', 2, 0, 1, 1)] });
  it('keynum spec (EVAL-like): keys counted from argument 2', () => {
    expect(keyPositions(evalLike, argv('EVAL s 2 k1 k2 a1 a2'))).toEqual([3, 4]);
    expect(keyPositions(evalLike, argv('EVAL s 0 a1'))).toEqual([]);
  });

  // XREAD [COUNT n] [BLOCK ms] STREAMS key [key ...] id [id ...]
  const xread = command('xread', -4, 'readonly blocking', { ...doc, keys: [keyAfter('RO', 'STREAMS', 1, -1, 1, 2)] });

  it('keyword spec with limit 2 (XREAD-like): the first half after STREAMS', () => {
    expect(keyPositions(xread, argv('XREAD STREAMS a b 0 0'))).toEqual([2, 3]);
    expect(keyPositions(xread, argv('XREAD COUNT 1 BLOCK 0 STREAMS a 0'))).toEqual([6]);
    expect(keyPositions(xread, argv('xread count 1 streams a b c 1 2 3'))).toEqual([4, 5, 6]);
  });

  it('keyword not present: no keys from that spec', () => {
    expect(keyPositions(xread, argv('XREAD COUNT 1 a 0'))).toEqual([]);
  });

  it('keyword as the last argument: no keys', () => {
    expect(keyPositions(xread, argv('XREAD COUNT 1 STREAMS'))).toEqual([]);
  });

  // A keyword searched from the end (as SORT's STORE is not, but GEORADIUS-like STORE is).
  const fromEnd = command('storelike', -2, 'write', { ...doc, keys: [keyAt('RO', 1), keyAfter('OW UPDATE', 'STORE', -2, 0, 1, 0)] });
  it('keyword searched backwards from the end', () => {
    expect(keyPositions(fromEnd, argv('X src a b STORE dst'))).toEqual([1, 5]);
    // The search starts at argc-2, so only the last STORE that still has an argument after it counts.
    expect(keyPositions(fromEnd, argv('X src STORE k1 STORE k2'))).toEqual([1, 5]);
    expect(keyPositions(fromEnd, argv('X src a b'))).toEqual([1]);
  });

  it('range with a fixed last key (RENAME-like) and with lastKey -2 (BLPOP-like)', () => {
    const rename = command('rename', 3, 'write', { ...doc, keys: [keyAt('RW', 1), keyAt('OW', 2)] });
    expect(keyPositions(rename, argv('RENAME a b'))).toEqual([1, 2]);
    expect([rename.firstKey, rename.lastKey, rename.step]).toEqual([1, 2, 1]);
    const blpop = command('blpop', -3, 'write blocking', { ...doc, keys: [keyAt('RW', 1, -2, 1)] });
    expect(keyPositions(blpop, argv('BLPOP a b c 0'))).toEqual([1, 2, 3]);
  });

  it('positions past the arguments are left out (arity is checked elsewhere)', () => {
    expect(keyPositions(lookupCommand('get')!, argv('GET'))).toEqual([]);
  });

  it('binary arguments (Uint8Array) work as strings do', () => {
    const args = ['XREAD', 'STREAMS', 'a', '0'].map((s) => Buffer.from(s));
    expect(keyPositions(xread, args)).toEqual([2]);
  });
});
