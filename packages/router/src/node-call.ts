/** One command to one node on a short-lived connection (topology reads from seeds). */
import { connect } from 'node:net';
import { ReplyParser, NEED_MORE, type RespValue } from '@sonic/protocol';
import { encodeCommand } from './encode.js';

export function callNode(host: string, port: number, password: string, args: string[], timeoutMs = 1500): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    const parser = new ReplyParser();
    let skip = password !== '' ? 1 : 0;
    let done = false;
    const finish = (e: Error | null, v?: RespValue) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      if (e) reject(e);
      else resolve(v!);
    };
    const timer = setTimeout(() => finish(new Error(`${host}:${port}: no reply in ${timeoutMs} ms`)), timeoutMs);
    s.on('error', (e) => finish(e));
    s.on('close', () => finish(new Error(`${host}:${port}: connection closed`)));
    s.on('data', (chunk) => {
      try {
        parser.push(chunk);
        for (;;) {
          const v = parser.next();
          if (v === NEED_MORE) return;
          if (skip > 0) {
            skip--;
            if (v instanceof Error) return finish(new Error(`${host}:${port}: AUTH: ${v.message}`));
            continue;
          }
          return v instanceof Error ? finish(new Error(`${host}:${port}: ${v.message}`)) : finish(null, v);
        }
      } catch (e) {
        finish(e as Error);
      }
    });
    s.setNoDelay(true);
    let out = '';
    if (password !== '') out += encodeCommand(['AUTH', password]);
    out += encodeCommand(args);
    s.write(out, 'latin1');
  });
}
