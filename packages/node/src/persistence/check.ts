/**
 * `sonic check-rdb FILE` and `sonic check-aof [--fix] FILE`: what redis-check-rdb and
 * redis-check-aof do. check-aof takes a manifest (every file it lists is checked in
 * order) or a single AOF file (RESP commands, optionally behind an RDB preamble).
 */
import * as fs from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { RdbFileLoader, RdbLoadError } from './rdb-file.js';
import { parseAofCommands, parseManifest } from './aof.js';
import { typeName } from '../engine/values.js';

type Out = (s: string) => void;

/** Checks an RDB file; returns the exit code (0 OK, 1 corrupt). */
export function checkRdb(file: string, out: Out = (s) => process.stdout.write(s + '\n')): number {
  out(`[offset 0] Checking RDB file ${file}`);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    out(`--- RDB ERROR DETECTED ---\nCannot open ${file}: ${(err as NodeJS.ErrnoException).code}`);
    return 1;
  }
  const byType = new Map<string, number>();
  let expires = 0;
  let lastDb = -1;
  const l = new RdbFileLoader(
    buf,
    {
      key(db, _k, v, e) {
        if (db !== lastDb) {
          out(`[offset ${l.pos}] Selecting DB ID ${db}`);
          lastDb = db;
        }
        const t = typeName(v);
        byType.set(t, (byType.get(t) ?? 0) + 1);
        if (e >= 0) expires++;
      },
      aux(name, value) {
        out(`[offset ${l.pos}] AUX FIELD ${name} = '${value.length > 64 ? value.slice(0, 64) + '...' : value}'`);
      },
      warn(msg) {
        out(`[offset ${l.pos}] ${msg}`);
      },
    },
    { skipExpired: false, maxDb: 1 << 30 },
  );
  try {
    l.step();
  } catch (e) {
    const off = e instanceof RdbLoadError ? e.offset : l.pos;
    out('--- RDB ERROR DETECTED ---');
    out(`[offset ${off}] ${(e as Error).message}`);
    out(`[additional info] While doing: reading the file at offset ${off} of ${buf.length}`);
    return 1;
  }
  const st = l.stats;
  out(`[offset ${st.end}] ${st.checksumVerified ? 'Checksum OK' : 'RDB file was saved with checksum disabled: no check performed.'}`);
  out(`[offset ${st.end}] \\o/ RDB looks OK! \\o/`);
  out(`[info] ${st.keys} keys read`);
  out(`[info] ${expires} expires`);
  for (const [t, n] of byType) out(`[info] ${n} ${t} keys`);
  if (st.end !== buf.length) out(`[info] ${buf.length - st.end} bytes after the RDB (an AOF tail)`);
  return 0;
}

interface AofFileResult {
  ok: boolean;
  truncated: boolean;
  validEnd: number;
  size: number;
  error: string;
}

function checkAofFile(path: string, out: Out): AofFileResult {
  const buf = fs.readFileSync(path);
  let start = 0;
  if (buf.length >= 5 && buf.latin1Slice(0, 5) === 'REDIS') {
    out(`The AOF appears to start with an RDB preamble. Checking the RDB preamble to start:`);
    const l = new RdbFileLoader(buf, { key() {} }, { skipExpired: false, maxDb: 1 << 30 });
    try {
      l.step();
    } catch (e) {
      return { ok: false, truncated: false, validEnd: 0, size: buf.length, error: `RDB preamble is not valid: ${(e as Error).message}` };
    }
    out(`RDB preamble is OK, proceeding with AOF tail...`);
    start = l.stats.end;
  }
  const r = parseAofCommands(buf, start, null);
  out(`AOF analyzed: filename=${basename(path)}, size=${buf.length}, ok_up_to=${r.validEnd}, diff=${buf.length - r.validEnd}`);
  if (r.status === 'ok') return { ok: true, truncated: false, validEnd: r.validEnd, size: buf.length, error: '' };
  return { ok: false, truncated: r.status === 'truncated', validEnd: r.validEnd, size: buf.length, error: `${r.status === 'truncated' ? 'Unexpected end of file' : 'Bad file format'} at offset ${r.errorOffset}: ${r.error}` };
}

/** Checks (and with fix, truncates to the last valid command) an AOF; returns the exit code. */
export function checkAof(file: string, fix: boolean, out: Out = (s) => process.stdout.write(s + '\n')): number {
  if (!fs.existsSync(file)) {
    out(`Cannot open file ${file}`);
    return 1;
  }
  let files: string[];
  if (file.endsWith('.manifest')) {
    out(`Start checking Multi Part AOF`);
    const entries = parseManifest(fs.readFileSync(file, 'latin1')).filter((e) => e.type !== 'h');
    entries.sort((a, b) => (a.type === b.type ? a.seq - b.seq : a.type === 'b' ? -1 : 1));
    files = entries.map((e) => join(dirname(file), e.name));
  } else files = [file];
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    out(`Checking ${basename(f)}`);
    const r = checkAofFile(f, out);
    if (r.ok) {
      out(`AOF ${basename(f)} is valid`);
      continue;
    }
    out(r.error);
    const last = i === files.length - 1;
    if (!fix) {
      out(`AOF ${basename(f)} is not valid. Use the --fix option to try fixing it.`);
      return 1;
    }
    if (!last && r.truncated) {
      out(`AOF ${basename(f)} is truncated but is not the last file; cannot fix safely.`);
      return 1;
    }
    out(`This will shrink the AOF ${basename(f)} from ${r.size} bytes, with ${r.size - r.validEnd} bytes, to ${r.validEnd} bytes`);
    fs.truncateSync(f, r.validEnd);
    out(`Successfully truncated AOF ${basename(f)}`);
    if (!last) return 1;
  }
  return 0;
}

export function checkRdbMain(args: string[]): number {
  if (args.length !== 1 || args[0] === '--help') {
    process.stdout.write('Usage: sonic check-rdb <rdb-file-name>\n');
    return args[0] === '--help' ? 0 : 1;
  }
  return checkRdb(args[0]!);
}

export function checkAofMain(args: string[]): number {
  const fix = args.includes('--fix');
  const rest = args.filter((a) => a !== '--fix');
  if (rest.length !== 1 || rest[0] === '--help') {
    process.stdout.write('Usage: sonic check-aof [--fix] <file.manifest|file.aof>\n');
    return rest[0] === '--help' ? 0 : 1;
  }
  return checkAof(rest[0]!, fix);
}
