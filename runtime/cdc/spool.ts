/**
 * A source transaction's changes, buffered until its commit: in memory up to a threshold, then in
 * a temporary file. A big transaction, including one Postgres streams in progress (pgoutput v2
 * stream_start / stream_stop, before its stream_commit), then costs the writer a file instead of
 * heap.
 *
 * Changes are kept as records in pgoutput's own tuple form (TupleData bytes, as the stream sent
 * them: runtime/cdc/pgoutput.ts RawTuple), in memory in a few large buffers and in the file as the
 * same bytes, and decoded only on replay: a buffered change costs its wire size, not a string per
 * value, and going to the file is a copy of those buffers. A record: length (u32), kind (u8),
 * flags (u8: 1 a tuple, 2 an old key), subtransaction xid (u32), state and layout references (u32,
 * i32: -1 none), then the tuple's length (u32) and bytes, then the old key's bytes.
 *
 * Aborts leave no trace: a whole transaction's abort drops the spool (close() deletes the file);
 * a subtransaction's abort (ROLLBACK TO SAVEPOINT) records its xid, and replay skips its records.
 * Xids are never reused within a stream.
 *
 * Object references in a change (the table state, the relation's column layout) are replaced by
 * numbers into a per-spool table of the objects seen, and put back on replay, so a replayed change
 * is the same change (same objects) as the one buffered.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeTuple, encodedTupleLength, encodeTuple, type RawTuple, type Tuple } from "./pgoutput";

/**
 * A change as the spool sees it: `state` (the table it changes) and `columns` (the relation's
 * layout) are kept by reference; `tuple` and `oldKey` are rows of text values, null, or pgoutput's
 * unchanged-TOAST marker.
 */
export type SpoolChange = { kind: "I" | "U" | "D" | "T"; state: object; columns?: object; tuple?: Tuple; oldKey?: Tuple };

/** A change to add: its tuples decoded (Tuple) or as the stream sent them (RawTuple, kept as is). */
export type SpoolInput<C extends SpoolChange> = C extends unknown
  ? Omit<C, "tuple" | "oldKey"> & { tuple?: Tuple | RawTuple; oldKey?: Tuple | RawTuple }
  : never;

/** Temp files of every spool of this process, removed at exit even when nobody closes them. */
const live = new Set<string>();
let exitHook = false;
function track(path: string): void {
  live.add(path);
  if (exitHook) return;
  exitHook = true;
  process.once("exit", () => {
    for (const p of live) rmSync(p, { force: true });
  });
}

const swept = new Set<string>();

/**
 * Removes the temp files of writers that are gone (killed: no exit hook ran), once per directory:
 * a file is named after its process id, and a process that does not exist holds no spool.
 */
export function sweepStale(dir: string): void {
  if (swept.has(dir)) return;
  swept.add(dir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^floe-changes-(\d+)-[0-9a-f-]+\.(jsonl|bin)$/.exec(name); // .jsonl: an older writer's
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    rmSync(join(dir, name), { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Bytes read from the file at a time on replay (more when one record is larger). */
const READ_CHUNK = 1 << 20;

/** The first memory buffer of a spool (most transactions are small); each next one is twice as large, up to BUFFER_MAX. */
const BUFFER_MIN = 4 << 10;
const BUFFER_MAX = 1 << 20;

/** Record header: length, kind, flags, subtransaction xid, state and layout references. */
const HEADER = 18;
const HAS_TUPLE = 1;
const HAS_OLD_KEY = 2;

export interface SpoolOptions {
  /** Changes go to a file once their records in memory pass this many bytes. */
  spillBytes: number;
  /** Directory of the temp files. Defaults to os.tmpdir(). */
  dir?: string;
}

export class ChangeSpool<C extends SpoolChange> {
  /** Filled memory buffers, then the one being filled (`buf`, up to `used`). */
  private full: Buffer[] = [];
  private buf?: Buffer;
  private used = 0;
  private memBytes = 0;
  private memCount = 0;
  private path?: string;
  private file?: FileHandle;
  private readonly aborted = new Set<number>();
  private readonly refs: unknown[] = [];
  private readonly refIds = new Map<unknown, number>();
  /** Per subtransaction xid: the tables (`state`) and change kinds seen. */
  private readonly bySub = new Map<number, { states: Set<object>; kinds: Set<string> }>();
  private closed = false;

  constructor(private readonly options: SpoolOptions) {}

  /** Whether changes went to a file. */
  get spilled(): boolean {
    return this.path !== undefined;
  }

  /** Changes buffered in memory (the rest are in the file). */
  get inMemory(): number {
    return this.memCount;
  }

  /**
   * Adds a change of (sub)transaction `subXid`. Returns a promise (await it, and add nothing
   * before it settles) only when the buffer goes to the file. References are kept by identity.
   */
  add(change: SpoolInput<C>, subXid: number): Promise<void> | undefined {
    if (this.closed) throw new Error("change spool: add() after close()");
    let s = this.bySub.get(subXid);
    if (!s) this.bySub.set(subXid, (s = { states: new Set(), kinds: new Set() }));
    s.kinds.add(change.kind);
    s.states.add(change.state);
    const { tuple, oldKey } = change;
    const tupleLen = tuple === undefined ? 0 : Array.isArray(tuple) ? encodedTupleLength(tuple) : tuple.length;
    const oldLen = oldKey === undefined ? 0 : Array.isArray(oldKey) ? encodedTupleLength(oldKey) : oldKey.length;
    const size = HEADER + (tuple === undefined ? 0 : 4 + tupleLen) + oldLen;
    const buf = this.room(size);
    let pos = buf.writeUInt32LE(size, this.used);
    buf[pos++] = change.kind.charCodeAt(0);
    buf[pos++] = (tuple === undefined ? 0 : HAS_TUPLE) | (oldKey === undefined ? 0 : HAS_OLD_KEY);
    pos = buf.writeUInt32LE(subXid, pos);
    pos = buf.writeUInt32LE(this.ref(change.state), pos);
    pos = buf.writeInt32LE(change.columns === undefined ? -1 : this.ref(change.columns), pos);
    if (tuple !== undefined) {
      pos = buf.writeUInt32LE(tupleLen, pos);
      pos = Array.isArray(tuple) ? encodeTuple(tuple, buf, pos) : pos + tuple.copy(buf, pos);
    }
    if (oldKey !== undefined) pos = Array.isArray(oldKey) ? encodeTuple(oldKey, buf, pos) : pos + oldKey.copy(buf, pos);
    this.used = pos;
    this.memBytes += size;
    this.memCount++;
    return this.memBytes >= this.options.spillBytes ? this.spill() : undefined;
  }

  /** A subtransaction rolled back: its changes are skipped on replay. */
  abortSub(subXid: number): void {
    this.aborted.add(subXid);
    this.bySub.delete(subXid);
  }

  /** The tables (`state`) of the changes not aborted. */
  tables(): Set<C["state"]> {
    const out = new Set<C["state"]>();
    for (const s of this.bySub.values()) for (const v of s.states) out.add(v);
    return out;
  }

  /** Whether a change of this kind (not aborted) is in the spool. */
  has(kind: string): boolean {
    for (const s of this.bySub.values()) if (s.kinds.has(kind)) return true;
    return false;
  }

  /**
   * Every change not aborted, in the order added (the file's first, then memory's), decoded a
   * buffer at a time: one array per read of the file or per memory buffer, not a promise per change.
   */
  async *batches(): AsyncGenerator<C[]> {
    if (this.file) {
      let chunk = Buffer.allocUnsafe(READ_CHUNK);
      let have = 0;
      let at = 0; // file position
      for (;;) {
        const { bytesRead } = await this.file.read(chunk, have, chunk.length - have, at);
        at += bytesRead;
        have += bytesRead;
        const end = this.records(chunk, have);
        if (end > 0) yield this.decode(chunk, end);
        chunk.copyWithin(0, end, have);
        have -= end;
        if (bytesRead === 0) break;
        // a record larger than the buffer: grow it to hold the record
        if (have >= HEADER && chunk.readUInt32LE(0) > chunk.length) {
          const bigger = Buffer.allocUnsafe(chunk.readUInt32LE(0));
          chunk.copy(bigger, 0, 0, have);
          chunk = bigger;
        }
      }
      if (have > 0) throw new Error(`change spool ${this.path}: the file ends in the middle of a record`);
    }
    for (const b of this.full) yield this.decode(b, b.length);
    if (this.buf && this.used > 0) yield this.decode(this.buf, this.used);
  }

  /** Drops everything and deletes the temp file. */
  async close(): Promise<void> {
    this.closed = true;
    this.full = [];
    this.buf = undefined;
    await this.file?.close().catch(() => undefined);
    this.file = undefined;
    if (this.path) {
      rmSync(this.path, { force: true });
      live.delete(this.path);
    }
  }

  /** The memory buffer with room for a record of `size` bytes at `used`. */
  private room(size: number): Buffer {
    if (this.buf && this.used + size <= this.buf.length) return this.buf;
    if (this.buf && this.used > 0) this.full.push(this.buf.subarray(0, this.used));
    const next = this.buf ? Math.min(BUFFER_MAX, this.buf.length * 2) : BUFFER_MIN;
    this.buf = Buffer.allocUnsafe(Math.max(next, size));
    this.used = 0;
    return this.buf;
  }

  private async spill(): Promise<void> {
    if (!this.file) {
      const dir = this.options.dir ?? tmpdir();
      mkdirSync(dir, { recursive: true });
      sweepStale(dir);
      this.path = join(dir, `floe-changes-${process.pid}-${randomUUID()}.bin`);
      track(this.path);
      this.file = await open(this.path, "wx+", 0o600); // read back on replay
    }
    const out = this.buf && this.used > 0 ? [...this.full, this.buf.subarray(0, this.used)] : this.full;
    // The next adds fill new buffers (none comes before this settles, but the written ones stay untouched).
    this.full = [];
    this.buf = undefined;
    this.used = 0;
    this.memBytes = 0;
    this.memCount = 0;
    for (let i = 0; i < out.length; i += 64) await this.file.writev(out.slice(i, i + 64)); // at the file position: each write follows the last
  }

  /** Where the last whole record of `buf[0, have)` ends. */
  private records(buf: Buffer, have: number): number {
    let pos = 0;
    while (pos + 4 <= have) {
      const len = buf.readUInt32LE(pos);
      if (pos + len > have) break;
      pos += len;
    }
    return pos;
  }

  /** The changes of the records in `buf[0, end)`, minus those of aborted subtransactions. */
  private decode(buf: Buffer, end: number): C[] {
    const out: C[] = [];
    for (let pos = 0; pos < end;) {
      const len = buf.readUInt32LE(pos);
      const subXid = buf.readUInt32LE(pos + 6);
      if (!this.aborted.has(subXid)) {
        const flags = buf[pos + 5];
        const c: SpoolChange = { kind: String.fromCharCode(buf[pos + 4]) as SpoolChange["kind"], state: this.refs[buf.readUInt32LE(pos + 10)] as object };
        const columns = buf.readInt32LE(pos + 14);
        if (columns >= 0) c.columns = this.refs[columns] as object;
        let at = pos + HEADER;
        if (flags & HAS_TUPLE) {
          const tupleLen = buf.readUInt32LE(at);
          c.tuple = decodeTuple(buf, at + 4);
          at += 4 + tupleLen;
        }
        if (flags & HAS_OLD_KEY) c.oldKey = decodeTuple(buf, at);
        out.push(c as C);
      }
      pos += len;
    }
    return out;
  }

  private ref(v: object): number {
    let id = this.refIds.get(v);
    if (id === undefined) {
      id = this.refs.length;
      this.refs.push(v);
      this.refIds.set(v, id);
    }
    return id;
  }
}
