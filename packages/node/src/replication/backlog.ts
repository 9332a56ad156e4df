/**
 * The replication backlog: the most recent `size` bytes (at least) of the command
 * stream, as the batches that carried them, so a replica that reconnects can resume
 * from its offset. Offsets count bytes from the start of the replication history
 * (`offset` is the number of bytes ever appended, Redis's master_repl_offset).
 *
 * Batches are kept whole (the backlog holds at most one batch more than `size`); the
 * same Buffers go to the replicas, so the backlog costs no copy.
 */
export class Backlog {
  private chunks: Buffer[] = [];
  private head = 0;
  /** Offset of the first byte held. */
  private start: number;
  private held = 0;

  constructor(
    public size: number,
    /** Offset of the stream when the backlog is created (nothing before it is held). */
    public offset: number,
  ) {
    this.start = offset;
  }

  /** Offset of the first byte still held (histlen bytes end at `offset`). */
  get firstByteOffset(): number {
    return this.start;
  }

  get histlen(): number {
    return this.held;
  }

  append(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.held += chunk.length;
    this.offset += chunk.length;
    this.trim();
  }

  private trim(): void {
    while (this.chunks.length - this.head > 1 && this.held - this.chunks[this.head]!.length >= this.size) {
      const c = this.chunks[this.head]!;
      this.chunks[this.head++] = EMPTY;
      this.held -= c.length;
      this.start += c.length;
    }
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  resize(size: number): void {
    this.size = size;
    this.trim();
  }

  /** True when a replica holding `from` bytes can continue from here. */
  covers(from: number): boolean {
    return from >= this.start && from <= this.offset;
  }

  /** The bytes from `from` to the end, as slices of the held batches (no copy). */
  since(from: number): Buffer[] {
    if (!this.covers(from)) throw new Error(`offset ${from} not in backlog [${this.start}, ${this.offset}]`);
    const out: Buffer[] = [];
    let pos = this.start;
    for (let i = this.head; i < this.chunks.length; i++) {
      const c = this.chunks[i]!;
      const end = pos + c.length;
      if (end > from) out.push(from > pos ? c.subarray(from - pos) : c);
      pos = end;
    }
    return out;
  }
}

const EMPTY = Buffer.alloc(0);

/** Encodes a command as RESP (a multibulk of latin1 strings), as the replication stream carries it. */
export function encodeArgv(argv: readonly string[]): Buffer {
  let n = 1 + String(argv.length).length + 2;
  for (const a of argv) n += 1 + String(a.length).length + 2 + a.length + 2;
  const b = Buffer.allocUnsafe(n);
  let p = b.latin1Write(`*${argv.length}\r\n`, 0);
  for (const a of argv) {
    p += b.latin1Write(`$${a.length}\r\n`, p);
    p += b.latin1Write(a, p);
    p += b.latin1Write('\r\n', p);
  }
  return b;
}
