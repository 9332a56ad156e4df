import { describe, expect, it } from 'vitest';
import { RespError } from '@sonic/protocol';
import { errorKind, isRefusal, NoReplyError } from './drill-client.js';

describe('drill client errors', () => {
  it('kinds: first word of an error reply, ERR with its words, codes and classes of exceptions', () => {
    expect(errorKind(new RespError('CLUSTERDOWN The cluster is down'))).toBe('CLUSTERDOWN');
    expect(errorKind(new RespError('ERR write outcome unknown: connection to node lost'))).toBe('ERR write outcome unknown');
    expect(errorKind(new RespError('ERR no such key'))).toBe('ERR no such key');
    expect(errorKind(new NoReplyError('TIMEOUT', true, 'no reply'))).toBe('TIMEOUT');
    expect(errorKind(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
    class ClusterAllFailedError extends Error {
      override name = 'ClusterAllFailedError';
    }
    expect(errorKind(new ClusterAllFailedError('Failed to refresh slots cache.'))).toBe('ClusterAllFailedError');
    const ioReply = Object.assign(new Error('MOVED 3999 127.0.0.1:6381'), { name: 'ReplyError' });
    expect(errorKind(ioReply)).toBe('MOVED');
  });

  it('refusals: error replies, except those that say the write may have been applied', () => {
    expect(isRefusal(new RespError('CLUSTERDOWN The cluster is down'))).toBe(true);
    expect(isRefusal(new RespError('NOREPLICAS No replica acknowledged the write within repl-sync-timeout (1000 ms)'))).toBe(false);
    expect(isRefusal(new RespError('ERR write outcome unknown: connection to node lost'))).toBe(false);
    expect(isRefusal(new NoReplyError('TIMEOUT', true, 'no reply'))).toBe(false);
    expect(isRefusal(Object.assign(new Error('TRYAGAIN'), { name: 'ReplyError' }))).toBe(true);
  });
});
