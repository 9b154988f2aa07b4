/**
 * A source transaction's changes, buffered until its commit: in memory up to a threshold, then in
 * a temporary file (one JSON line per change, appended in order). A big transaction, including
 * one Postgres streams in progress (pgoutput v2 stream_start / stream_stop, before its
 * stream_commit), then costs the writer a file instead of heap.
 *
 * Aborts leave no trace: a whole transaction's abort drops the spool (close() deletes the file);
 * a subtransaction's abort (ROLLBACK TO SAVEPOINT) drops its in-memory changes and records its
 * xid, and replay skips the file's lines of that xid. Xids are never reused within a stream.
 *
 * Object references in a change (the table state, the relation's column layout) cannot go to a
 * file: they are replaced by numbers into a per-spool table of the objects seen, and put back on
 * replay, so a replayed change is the same change (same objects) as the one buffered.
 */
import { randomUUID } from "node:crypto";
import { createReadStream, mkdirSync, readdirSync, rmSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A change as the spool sees it: `state` (the table it changes) and `columns` (the relation's
 * layout) are kept by reference; `tuple` and `oldKey` hold text values, null, or the special
 * marker (pgoutput's unchanged TOAST value).
 */
export type SpoolChange = { kind: string; state: object; columns?: object; tuple?: unknown[]; oldKey?: unknown[] };

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
    const m = /^floe-changes-(\d+)-[0-9a-f-]+\.jsonl$/.exec(name);
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

/** Bytes read from the file at a time on replay. */
const READ_CHUNK = 1 << 20;

/** Flushes the write buffer to the file past this many characters. */
const WRITE_CHUNK = 1 << 20;

export interface SpoolOptions {
  /** Changes go to a file once their estimated size passes this many bytes. */
  spillBytes: number;
  /** Directory of the temp files. Defaults to os.tmpdir(). */
  dir?: string;
  /** A value that cannot be written as JSON (pgoutput's unchanged-TOAST marker): written as a marker and read back as this value. */
  special?: unknown;
}

export class ChangeSpool<C extends SpoolChange> {
  private mem: C[] = [];
  private memSub: number[] = [];
  private memBytes = 0;
  private path?: string;
  private file?: FileHandle;
  private pending = "";
  /** Changes in the file (including those of aborted subtransactions). */
  private spilledCount = 0;
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
    return this.mem.length;
  }

  /**
   * Adds a change of (sub)transaction `subXid`, `bytes` its estimated size. Returns a promise
   * (await it) only when the buffer goes to the file. Reference-valued fields are kept by identity.
   */
  add(change: C, subXid: number, bytes: number): Promise<void> | undefined {
    if (this.closed) throw new Error("change spool: add() after close()");
    let s = this.bySub.get(subXid);
    if (!s) this.bySub.set(subXid, (s = { states: new Set(), kinds: new Set() }));
    s.kinds.add(change.kind);
    s.states.add(change.state);
    this.mem.push(change);
    this.memSub.push(subXid);
    this.memBytes += bytes + 64;
    return this.memBytes >= this.options.spillBytes ? this.spill() : undefined;
  }

  /** A subtransaction rolled back: its changes are dropped. */
  abortSub(subXid: number): void {
    this.aborted.add(subXid);
    this.bySub.delete(subXid);
    const keep: C[] = [];
    const keepSub: number[] = [];
    for (let i = 0; i < this.mem.length; i++) {
      if (this.memSub[i] === subXid) continue;
      keep.push(this.mem[i]);
      keepSub.push(this.memSub[i]);
    }
    this.mem = keep;
    this.memSub = keepSub;
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

  /** Every change not aborted, in the order added: the file's first, then memory's. */
  async *changes(): AsyncGenerator<C> {
    if (this.path) {
      await this.drain();
      // Read a chunk at a time (the stream pauses while we apply): a line reader would read ahead
      // without bound and hold the whole file as strings.
      let rest = "";
      for await (const chunk of createReadStream(this.path, { encoding: "utf8", highWaterMark: READ_CHUNK })) {
        const text = rest + (chunk as string);
        let start = 0;
        for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
          const line = text.slice(start, nl);
          start = nl + 1;
          if (line.length === 0) continue;
          const { subXid, change } = this.decode(line);
          if (this.aborted.has(subXid)) continue;
          yield change;
        }
        rest = text.slice(start);
      }
      if (rest.length > 0) throw new Error(`change spool ${this.path}: the file ends in the middle of a line`);
    }
    for (let i = 0; i < this.mem.length; i++) yield this.mem[i];
  }

  /** Drops everything and deletes the temp file. */
  async close(): Promise<void> {
    this.closed = true;
    this.mem = [];
    this.memSub = [];
    await this.file?.close().catch(() => undefined);
    this.file = undefined;
    if (this.path) {
      rmSync(this.path, { force: true });
      live.delete(this.path);
    }
  }

  private async spill(): Promise<void> {
    if (!this.file) {
      const dir = this.options.dir ?? tmpdir();
      mkdirSync(dir, { recursive: true });
      sweepStale(dir);
      this.path = join(dir, `floe-changes-${process.pid}-${randomUUID()}.jsonl`);
      track(this.path);
      this.file = await open(this.path, "wx", 0o600);
    }
    for (let i = 0; i < this.mem.length; i++) {
      this.pending += this.encode(this.memSub[i], this.mem[i]) + "\n";
      if (this.pending.length >= WRITE_CHUNK) await this.drain();
    }
    this.spilledCount += this.mem.length;
    this.mem = [];
    this.memSub = [];
    this.memBytes = 0;
    await this.drain();
  }

  private async drain(): Promise<void> {
    if (!this.file || this.pending.length === 0) return;
    const text = this.pending;
    this.pending = "";
    await this.file.write(text);
  }

  private ref(v: object | undefined): number {
    if (v === undefined) return -1;
    let id = this.refIds.get(v);
    if (id === undefined) {
      id = this.refs.length;
      this.refs.push(v);
      this.refIds.set(v, id);
    }
    return id;
  }

  /** A tuple for JSON: the special marker becomes 0 (text values are strings, so 0 is free). */
  private tupleOut(t: unknown[] | undefined): unknown[] | null {
    if (!t) return null;
    const special = this.options.special;
    return special !== undefined && t.includes(special) ? t.map((x) => (x === special ? 0 : x)) : t;
  }

  private tupleIn(t: unknown[] | null): unknown[] | undefined {
    if (!t) return undefined;
    const special = this.options.special;
    return t.includes(0) ? t.map((x) => (x === 0 ? special : x)) : t;
  }

  /** One line: [subXid, kind, state, columns, tuple, oldKey], references as numbers. */
  private encode(subXid: number, c: C): string {
    return JSON.stringify([subXid, c.kind, this.ref(c.state), this.ref(c.columns), this.tupleOut(c.tuple), this.tupleOut(c.oldKey)]);
  }

  private decode(line: string): { subXid: number; change: C } {
    const [subXid, kind, state, columns, tuple, oldKey] = JSON.parse(line) as [number, string, number, number, unknown[] | null, unknown[] | null];
    const c: SpoolChange = { kind, state: this.refs[state] as object };
    if (columns >= 0) c.columns = this.refs[columns] as object;
    if (tuple) c.tuple = this.tupleIn(tuple);
    if (oldKey) c.oldKey = this.tupleIn(oldKey);
    return { subXid, change: c as C };
  }
}
