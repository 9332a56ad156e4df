/**
 * The client's errors. A server error reply is parsed once, where it arrives, into one of
 * these classes (redirects carry their slot and address); nothing else looks at message
 * strings.
 */
import { parseRedirect, type RespError } from '@sonic/protocol';

export class SonicClientError extends Error {
  override name = 'SonicClientError';
}

/** An error reply from the server: `code` is its first word (ERR, WRONGTYPE, ...). */
export class ReplyError extends SonicClientError {
  override name = 'ReplyError';
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

/** A redirect: the slot and the address it points to. */
export class RedirectError extends ReplyError {
  override name = 'RedirectError';
  constructor(message: string, code: 'MOVED' | 'ASK', readonly slot: number, readonly host: string, readonly port: number) {
    super(message, code);
  }
  get address(): string {
    return `${this.host}:${this.port}`;
  }
}

/** MOVED slot host:port: the slot lives elsewhere for good. */
export class MovedError extends RedirectError {
  override name = 'MovedError';
}

/** ASK slot host:port: this one command goes to the target, preceded by ASKING. */
export class AskError extends RedirectError {
  override name = 'AskError';
}

export class TryAgainError extends ReplyError {
  override name = 'TryAgainError';
}
export class ClusterDownError extends ReplyError {
  override name = 'ClusterDownError';
}
export class NoScriptError extends ReplyError {
  override name = 'NoScriptError';
}
export class CrossSlotError extends ReplyError {
  override name = 'CrossSlotError';
}
/** READONLY: a write reached a replica (the topology is stale). */
export class ReadOnlyError extends ReplyError {
  override name = 'ReadOnlyError';
}
export class LoadingError extends ReplyError {
  override name = 'LoadingError';
}

/**
 * The connection died after a write was sent and before its reply came: the write may or
 * may not have happened. It is not retried (that could apply it twice).
 */
export class WriteOutcomeUnknownError extends SonicClientError {
  override name = 'WriteOutcomeUnknownError';
  constructor(readonly command: string, readonly address: string, cause?: string) {
    super(`the outcome of ${command} on ${address} is unknown: the connection closed before its reply${cause ? ` (${cause})` : ''}`);
  }
}

/** A command could not be sent (no reachable node within the retry time). */
export class ConnectionError extends SonicClientError {
  override name = 'ConnectionError';
}

export class OfflineQueueFullError extends SonicClientError {
  override name = 'OfflineQueueFullError';
}

export class ClientClosedError extends SonicClientError {
  override name = 'ClientClosedError';
  constructor() {
    super('the client is closed');
  }
}

/** Turns an error reply into its typed error (once, where the reply is read). */
export function toReplyError(e: RespError): ReplyError {
  const msg = e.message;
  const sp = msg.indexOf(' ');
  const code = sp < 0 ? msg : msg.slice(0, sp);
  switch (code) {
    case 'MOVED':
    case 'ASK': {
      const r = parseRedirect(msg);
      if (r !== null) return r.kind === 'MOVED' ? new MovedError(msg, 'MOVED', r.slot, r.host, r.port) : new AskError(msg, 'ASK', r.slot, r.host, r.port);
      return new ReplyError(msg, code);
    }
    case 'TRYAGAIN':
      return new TryAgainError(msg, code);
    case 'CLUSTERDOWN':
      return new ClusterDownError(msg, code);
    case 'NOSCRIPT':
      return new NoScriptError(msg, code);
    case 'CROSSSLOT':
      return new CrossSlotError(msg, code);
    case 'READONLY':
      return new ReadOnlyError(msg, code);
    case 'LOADING':
      return new LoadingError(msg, code);
    default:
      return new ReplyError(msg, code);
  }
}
