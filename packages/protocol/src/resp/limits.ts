/**
 * Every limit the RESP reader enforces, in one place. Defaults are Redis 7's.
 */
export interface RequestLimits {
  /** proto-max-bulk-len: the largest bulk string a client may send. */
  maxBulkLen: number;
  /**
   * The largest multibulk element count. Redis accepts up to INT_MAX; memory stays bounded
   * because the reader counts parsed arguments of a partial command against maxQueryBuffer.
   */
  maxMultibulkLen: number;
  /** PROTO_INLINE_MAX_SIZE: the longest inline command line. */
  maxInlineLen: number;
  /** client-query-buffer-limit: the most unparsed input a client may hold. */
  maxQueryBuffer: number;
}

export const DEFAULT_LIMITS: RequestLimits = {
  maxBulkLen: 512 * 1024 * 1024,
  maxMultibulkLen: 2147483647,
  maxInlineLen: 64 * 1024,
  maxQueryBuffer: 1024 * 1024 * 1024,
};

/** Bulk strings at least this long are accumulated chunk by chunk and joined once. */
export const BIG_ARG = 32 * 1024;
