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

export interface IndexedFile {
  keys: (string | undefined)[];
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

export class PkIndex {
  readonly live = new Map<string, RowLocation>();
  readonly files = new Map<string, IndexedFile>();

  get size(): number {
    return this.live.size;
  }

  get(key: string): RowLocation | undefined {
    return this.live.get(key);
  }

  /** Registers a data file and makes its rows live (later files win for a repeated key). */
  addFile(path: string, file: IndexedFile, deleted?: Set<number>): void {
    this.files.set(path, file);
    const keys = file.keys;
    let live = 0;
    for (let pos = 0; pos < keys.length; pos++) {
      if (deleted?.has(pos)) {
        keys[pos] = undefined;
        continue;
      }
      const k = keys[pos];
      if (k !== undefined) {
        this.live.set(k, { path, pos });
        live++;
      }
    }
    file.live = live;
    if (live === 0) this.files.delete(path);
  }

  /** Applies a position delete (from any writer). Unknown files/positions are ignored. */
  deletePosition(path: string, pos: number): void {
    const f = this.files.get(path);
    const key = f?.keys[pos];
    if (key === undefined || !f) return;
    const loc = this.live.get(key);
    if (loc && loc.path === path && loc.pos === pos) this.live.delete(key);
    f.keys[pos] = undefined;
    f.live = (f.live ?? 1) - 1;
    if (f.live <= 0) this.files.delete(path);
  }

  /** Removes a whole data file (e.g. it was deleted by an overwrite or truncate). */
  removeFile(path: string): void {
    const f = this.files.get(path);
    if (!f) return;
    for (let pos = 0; pos < f.keys.length; pos++) {
      const key = f.keys[pos];
      if (key === undefined) continue;
      const loc = this.live.get(key);
      if (loc && loc.path === path && loc.pos === pos) this.live.delete(key);
    }
    this.files.delete(path);
  }

  clear(): void {
    this.live.clear();
    this.files.clear();
  }
}
