/**
 * The primary-key index of a mirror table: key -> (data file, row position) for every live row,
 * plus, per data file, the key at each position (so a position delete found in another writer's
 * commit can be mapped back to its key). Keys are strings built from the identifier columns.
 */
import type { Primitive } from "./types";

export interface RowLocation {
  path: string;
  pos: number;
}

/**
 * A row's key in the index. A single integer-like identifier column (int, long, date, time,
 * timestamp, timestamptz) uses numbers (values beyond ±2^53 their decimal string): hashing a
 * number is several times cheaper than building and hashing a string. Other keys are strings.
 */
export type IndexKey = string | number;

/** Whether a single identifier column of this type gets number keys. */
export function isNumericKey(p: Primitive): boolean {
  return p.kind === "int" || p.kind === "long" || p.kind === "date" || p.kind === "time" || p.kind === "timestamp" || p.kind === "timestamptz";
}

const SAFE = 2n ** 53n;

/** The index key of a single integer-like key value (normalized or physical: number or bigint). */
export function numericKey(v: unknown): IndexKey {
  if (typeof v === "number") return v;
  const b = v as bigint;
  return b < SAFE && b > -SAFE ? Number(b) : b.toString();
}

export interface IndexedFile {
  keys: (IndexKey | undefined)[];
  /** Partition tuple (Avro values by partition field name) and spec id of the data file. */
  partition: Record<string, unknown>;
  specId: number;
  /** Positions still live (maintained by the index). */
  live?: number;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

function signedBytesToBigInt(b: Uint8Array): bigint {
  if (b.length === 0) return 0n;
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  if (b[0] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v;
}

function uuidFromBytes(b: Uint8Array): string {
  const h = hex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Key part from a normalized value (see values.ts normalizer). */
export function keyPartFromNormalized(p: Primitive, v: unknown): string {
  switch (p.kind) {
    case "boolean":
      return v ? "1" : "0";
    case "binary":
    case "fixed":
      return hex(v as Uint8Array);
    default:
      return String(v);
  }
}

/** Key part from a physical Parquet value as read back by parquet.ts readColumnsById. */
export function keyPartFromPhysical(p: Primitive, v: unknown): string {
  switch (p.kind) {
    case "boolean":
      return v ? "1" : "0";
    case "int":
    case "date":
      return String(Number(v));
    case "decimal":
      return v instanceof Uint8Array ? signedBytesToBigInt(v).toString() : BigInt(v as number | bigint).toString();
    case "long":
    case "time":
    case "timestamp":
    case "timestamptz":
      return BigInt(v as bigint).toString();
    case "string":
      return typeof v === "string" ? v : Buffer.from(v as Uint8Array).toString("utf8");
    case "uuid":
      return typeof v === "string" ? v.toLowerCase() : uuidFromBytes(v as Uint8Array);
    case "binary":
    case "fixed":
      return hex(v as Uint8Array);
    default:
      return String(v);
  }
}

/** Joins key parts; single-column keys are the part itself. */
export function joinKey(parts: string[]): string {
  return parts.length === 1 ? parts[0] : JSON.stringify(parts);
}

const POS_SPAN = 2 ** 32;

/** A 32-bit hash of an integer-valued number (both halves of it), for open-addressing tables. */
export function numberHash(k: number): number {
  const h = Math.imul((k | 0) ^ Math.floor(k / 4294967296), 0x9e3779b1);
  return h ^ (h >>> 15);
}

/**
 * A hash map of integer-valued number keys to number values in typed arrays (open addressing,
 * linear probing, tombstones for deletes): a million keys take two Float64Arrays and a
 * Uint8Array, not a million Map entries, and set/get cost a few array reads. Iterates in slot
 * order, not insertion order.
 */
export class NumberMap {
  private keyAt = new Float64Array(16);
  private valAt = new Float64Array(16);
  /** Per slot: 0 empty, 1 holds a key, 2 held one that was deleted. */
  private used = new Uint8Array(16);
  private live = 0;
  private taken = 0; // slots not empty: live + tombstones

  get size(): number {
    return this.live;
  }

  private slot(k: number): number {
    const mask = this.used.length - 1;
    let i = numberHash(k) & mask;
    for (;;) {
      const u = this.used[i];
      if (u === 0 || (u === 1 && this.keyAt[i] === k)) return i;
      i = (i + 1) & mask;
    }
  }

  get(k: number): number | undefined {
    const i = this.slot(k);
    return this.used[i] === 1 ? this.valAt[i] : undefined;
  }

  set(k: number, v: number): void {
    let i = this.slot(k);
    if (this.used[i] === 1) {
      this.valAt[i] = v;
      return;
    }
    if ((this.taken + 1) * 2 > this.used.length) {
      this.resize(this.live * 4 > this.used.length ? this.used.length * 2 : this.used.length); // same size: drops the tombstones
      i = this.slot(k);
    }
    this.keyAt[i] = k;
    this.valAt[i] = v;
    this.used[i] = 1;
    this.live++;
    this.taken++;
  }

  /**
   * Makes room for `extra` more keys at once: no rehash at each doubling while they go in. Sized
   * by the live keys, as set() grows (tombstones are dropped, not doubled along).
   */
  reserve(extra: number): void {
    if ((this.taken + extra + 1) * 2 <= this.used.length) return;
    let capacity = this.used.length;
    while ((this.live + extra) * 4 > capacity) capacity *= 2;
    this.resize(capacity);
  }

  delete(k: number): boolean {
    const i = this.slot(k);
    if (this.used[i] !== 1) return false;
    this.used[i] = 2; // a tombstone: probes for keys placed after it go on past it
    this.live--;
    return true;
  }

  *keys(): IterableIterator<number> {
    for (let i = 0; i < this.used.length; i++) if (this.used[i] === 1) yield this.keyAt[i];
  }

  clear(): void {
    this.keyAt = new Float64Array(16);
    this.valAt = new Float64Array(16);
    this.used = new Uint8Array(16);
    this.live = this.taken = 0;
  }

  private resize(capacity: number): void {
    const { keyAt, valAt, used } = this;
    this.keyAt = new Float64Array(capacity);
    this.valAt = new Float64Array(capacity);
    this.used = new Uint8Array(capacity);
    this.live = this.taken = 0;
    for (let i = 0; i < used.length; i++) {
      if (used[i] !== 1) continue;
      const j = this.slot(keyAt[i]);
      this.keyAt[j] = keyAt[i];
      this.valAt[j] = valAt[i];
      this.used[j] = 1;
      this.live++;
      this.taken++;
    }
  }
}

/** Row locations by key: number keys in a NumberMap, other keys (strings) in a Map. */
class KeyMap {
  private readonly nums = new NumberMap();
  private readonly strs = new Map<string, number>();

  get size(): number {
    return this.nums.size + this.strs.size;
  }
  get(k: IndexKey): number | undefined {
    return typeof k === "number" ? this.nums.get(k) : this.strs.get(k);
  }
  set(k: IndexKey, v: number): void {
    if (typeof k === "number") this.nums.set(k, v);
    else this.strs.set(k, v);
  }
  reserveNumbers(extra: number): void {
    this.nums.reserve(extra);
  }
  delete(k: IndexKey): void {
    if (typeof k === "number") this.nums.delete(k);
    else this.strs.delete(k);
  }
  *keys(): IterableIterator<IndexKey> {
    yield* this.nums.keys();
    yield* this.strs.keys();
  }
  clear(): void {
    this.nums.clear();
    this.strs.clear();
  }
}

/**
 * Memory: per live row one slot of a NumberMap (number keys) or one Map entry (string keys) whose
 * value is a single number (file number * 2^32 + position), plus per data file the array of its
 * keys (shared strings).
 */
export class PkIndex {
  private readonly locs = new KeyMap();

  /** @param numeric keys are numbers (see IndexKey); get() also takes their decimal strings. */
  constructor(readonly numeric = false) {}
  private readonly paths: (string | undefined)[] = [];
  private readonly fileNos = new Map<string, number>();
  readonly files = new Map<string, IndexedFile>();

  get size(): number {
    return this.locs.size;
  }

  get(key: IndexKey): RowLocation | undefined {
    if (this.numeric && typeof key === "string" && /^-?\d+$/.test(key)) key = numericKey(BigInt(key));
    const v = this.locs.get(key);
    if (v === undefined) return undefined;
    const f = Math.floor(v / POS_SPAN);
    return { path: this.paths[f]!, pos: v - f * POS_SPAN };
  }

  /** Every live key. */
  keys(): IterableIterator<IndexKey> {
    return this.locs.keys();
  }

  /** Every live key with its location. */
  *entries(): IterableIterator<[IndexKey, RowLocation]> {
    for (const key of this.locs.keys()) yield [key, this.get(key)!];
  }

  private fileNo(path: string): number {
    let n = this.fileNos.get(path);
    if (n === undefined) {
      n = this.paths.length;
      this.paths.push(path);
      this.fileNos.set(path, n);
    }
    return n;
  }

  /** Registers a data file and makes its rows live (later files win for a repeated key). */
  addFile(path: string, file: IndexedFile, deleted?: Set<number>): void {
    if (file.keys.length >= POS_SPAN) throw new Error(`data file ${path} has more than 2^32 rows`);
    this.files.set(path, file);
    const base = this.fileNo(path) * POS_SPAN;
    const keys = file.keys;
    if (this.numeric) this.locs.reserveNumbers(keys.length);
    let live = 0;
    for (let pos = 0; pos < keys.length; pos++) {
      if (deleted?.has(pos)) {
        keys[pos] = undefined;
        continue;
      }
      const k = keys[pos];
      if (k !== undefined) {
        this.locs.set(k, base + pos);
        live++;
      }
    }
    file.live = live;
    if (live === 0) this.forget(path);
  }

  /** Applies a position delete (from any writer). Unknown files/positions are ignored. */
  deletePosition(path: string, pos: number): void {
    const f = this.files.get(path);
    const key = f?.keys[pos];
    if (key === undefined || !f) return;
    if (this.locs.get(key) === this.fileNos.get(path)! * POS_SPAN + pos) this.locs.delete(key);
    f.keys[pos] = undefined;
    f.live = (f.live ?? 1) - 1;
    if (f.live <= 0) this.forget(path);
  }

  /** Removes a whole data file (e.g. it was deleted by an overwrite or truncate). */
  removeFile(path: string): void {
    const f = this.files.get(path);
    if (!f) return;
    const base = this.fileNos.get(path)! * POS_SPAN;
    for (let pos = 0; pos < f.keys.length; pos++) {
      const key = f.keys[pos];
      if (key !== undefined && this.locs.get(key) === base + pos) this.locs.delete(key);
    }
    this.forget(path);
  }

  private forget(path: string): void {
    this.files.delete(path);
    const n = this.fileNos.get(path);
    if (n !== undefined) {
      this.paths[n] = undefined;
      this.fileNos.delete(path);
    }
  }

  clear(): void {
    this.locs.clear();
    this.files.clear();
    this.fileNos.clear();
    this.paths.length = 0;
  }
}
