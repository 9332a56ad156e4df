import { Socket } from 'node:net';

/**
 * Client input without an allocation per read.
 *
 * A plain net.Socket reads into a fresh 64 KB buffer on every read (malloc, an
 * ArrayBuffer, a Buffer, later a free and a sweep), then pushes it through the Readable
 * stream machinery to 'data' listeners: about a tenth of the node's CPU under pipelined
 * load. net.Socket's `onread` option reads into a buffer we own and calls back with the
 * byte count instead. Node offers it only for sockets created by the caller, so an
 * accepted socket (the listener has pauseOnConnect: nothing is read yet) hands its
 * handle to a new Socket made with `onread`.
 *
 * Every client reads into the same buffer: the callback must consume the bytes or copy
 * what it keeps before it returns (RequestParser.settle).
 */
export const READ_BUFFER: Buffer = Buffer.allocUnsafeSlow(64 * 1024);

type Handle = { readStart?: unknown } | null | undefined;

/**
 * The socket to use for an accepted connection: one that calls `onRead` with views of
 * READ_BUFFER. Falls back to 'data' events (own buffers) if the handle cannot be taken.
 */
export function adoptSocket(accepted: Socket, onRead: (chunk: Buffer) => void): Socket {
  const holder = accepted as unknown as { _handle: Handle };
  const handle = holder._handle;
  if (handle === null || handle === undefined || typeof handle.readStart !== 'function') {
    accepted.on('data', onRead);
    accepted.resume();
    return accepted;
  }
  // Detach the handle, then destroy the shell: that releases the listener's connection
  // count and closes nothing (the fd belongs to the handle, now the new socket's).
  holder._handle = null;
  accepted.destroy();
  const opts = {
    handle,
    readable: true,
    writable: true,
    onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array): void => onRead((buf as Buffer).subarray(0, n)) },
  };
  return new Socket(opts as ConstructorParameters<typeof Socket>[0]);
}
