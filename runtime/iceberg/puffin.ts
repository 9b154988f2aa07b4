/**
 * Iceberg v3 deletion vectors in Puffin files (format/puffin-spec.md, "deletion-vector-v1").
 *
 * A deletion vector is the set of deleted row positions of one data file, serialized as:
 *
 *   length (4 bytes, big-endian: magic + vector) | magic D1 D3 39 64 | vector | CRC-32 of magic + vector (big-endian)
 *
 * where the vector is the Roaring "portable" 64-bit format: the number of 32-bit bitmaps (8 bytes,
 * little-endian), then per bitmap in unsigned key order its key (the position's high 32 bits,
 * 4 bytes little-endian) and a 32-bit Roaring bitmap of the low 32 bits (RoaringFormatSpec:
 * cookie, descriptive header, offsets, then array / bitmap / run containers). Written with array
 * and bitmap containers; read with all three.
 *
 * A Puffin file is: magic "PFA1" | blobs | footer, the footer being "PFA1" | JSON payload |
 * payload size (4 bytes LE) | flags (4 bytes LE) | "PFA1". Each deletion-vector blob's footer entry
 * carries `referenced-data-file` and `cardinality`; snapshot-id and sequence-number are -1 (inherited).
 *
 * Blobs are laid out shortest first (then by data file). The spec leaves the order free; this one
 * keeps DuckDB 1.5.5 reading right: its external file cache widens the read of a blob up to the
 * range it cached next (the footer's tail) when the gap is no longer than the blob, and its iceberg
 * extension then parses the widened range's start for every later blob inside it (duckdb-iceberg
 * PR #1182, fixed after 1.5.5). With each blob no longer than any after it, only the last blob's
 * read can be widened, and over the footer alone. docs/maintenance.md has the measurements.
 */
import { CorruptMetadataError } from "./catalog";

const PUFFIN_MAGIC = Buffer.from([0x50, 0x46, 0x41, 0x31]);
const DV_MAGIC = Buffer.from([0xd1, 0xd3, 0x39, 0x64]);
export const DV_BLOB_TYPE = "deletion-vector-v1";
/** The _pos metadata column: the field a deletion vector is computed for. */
export const ROW_POSITION_FIELD_ID = 2147483645;

const SERIAL_COOKIE_NO_RUNCONTAINER = 12346;
const SERIAL_COOKIE = 12347;
const NO_OFFSET_THRESHOLD = 4;
const ARRAY_MAX = 4096;

// ---- CRC-32 (IEEE, as java.util.zip.CRC32) -----------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---- Roaring bitmaps ---------------------------------------------------------------------------

/** The 32-bit Roaring serialization of sorted, distinct 32-bit values. */
function serialize32(values: number[]): Buffer {
  // containers by high 16 bits
  const containers: { key: number; lows: number[] }[] = [];
  for (const v of values) {
    const key = v >>> 16;
    const last = containers[containers.length - 1];
    if (last && last.key === key) last.lows.push(v & 0xffff);
    else containers.push({ key, lows: [v & 0xffff] });
  }
  const size = containers.length;
  const headerBytes = 8 + 4 * size + 4 * size;
  const bodies = containers.map((c) => {
    if (c.lows.length <= ARRAY_MAX) {
      const b = Buffer.alloc(2 * c.lows.length);
      c.lows.forEach((x, i) => b.writeUInt16LE(x, 2 * i));
      return b;
    }
    const b = Buffer.alloc(8192);
    for (const x of c.lows) b[x >>> 3] |= 1 << (x & 7);
    return b;
  });
  const out = Buffer.alloc(headerBytes + bodies.reduce((a, b) => a + b.length, 0));
  out.writeUInt32LE(SERIAL_COOKIE_NO_RUNCONTAINER, 0);
  out.writeUInt32LE(size, 4);
  let offset = headerBytes;
  containers.forEach((c, i) => {
    out.writeUInt16LE(c.key, 8 + 4 * i);
    out.writeUInt16LE(c.lows.length - 1, 8 + 4 * i + 2);
    out.writeUInt32LE(offset, 8 + 4 * size + 4 * i);
    bodies[i].copy(out, offset);
    offset += bodies[i].length;
  });
  return out;
}

/** Reads one 32-bit Roaring bitmap at `at`; pushes `high + value` for each value; returns the end offset. */
function deserialize32(b: Buffer, at: number, high: number, out: number[], what: string): number {
  const cookie = b.readUInt32LE(at);
  let size: number;
  let pos: number;
  let runFlags: Buffer | undefined;
  if ((cookie & 0xffff) === SERIAL_COOKIE) {
    size = (cookie >>> 16) + 1;
    const flagBytes = (size + 7) >>> 3;
    runFlags = b.subarray(at + 4, at + 4 + flagBytes);
    pos = at + 4 + flagBytes;
  } else if (cookie === SERIAL_COOKIE_NO_RUNCONTAINER) {
    size = b.readUInt32LE(at + 4);
    pos = at + 8;
  } else throw new CorruptMetadataError(`${what}: not a Roaring bitmap (cookie ${cookie})`);
  const keys: number[] = [];
  const cards: number[] = [];
  for (let i = 0; i < size; i++) {
    keys.push(b.readUInt16LE(pos + 4 * i));
    cards.push(b.readUInt16LE(pos + 4 * i + 2) + 1);
  }
  pos += 4 * size;
  if (!runFlags || size >= NO_OFFSET_THRESHOLD) pos += 4 * size; // offsets: containers follow in order anyway
  for (let i = 0; i < size; i++) {
    const base = high + keys[i] * 65536;
    const isRun = runFlags ? (runFlags[i >>> 3] >>> (i & 7)) & 1 : 0;
    if (isRun) {
      const runs = b.readUInt16LE(pos);
      pos += 2;
      for (let r = 0; r < runs; r++) {
        const start = b.readUInt16LE(pos + 4 * r);
        const len = b.readUInt16LE(pos + 4 * r + 2);
        for (let x = start; x <= start + len; x++) out.push(base + x);
      }
      pos += 4 * runs;
    } else if (cards[i] <= ARRAY_MAX) {
      for (let j = 0; j < cards[i]; j++) out.push(base + b.readUInt16LE(pos + 2 * j));
      pos += 2 * cards[i];
    } else {
      for (let byte = 0; byte < 8192; byte++) {
        const v = b[pos + byte];
        if (v === 0) continue;
        for (let bit = 0; bit < 8; bit++) if (v & (1 << bit)) out.push(base + byte * 8 + bit);
      }
      pos += 8192;
    }
  }
  return pos;
}

/** The "portable" 64-bit Roaring serialization of row positions (any order, duplicates allowed). */
export function serializePositions(positions: Iterable<number>): Buffer {
  const sorted = [...new Set(positions)].sort((a, b) => a - b);
  if (sorted.length && (sorted[0] < 0 || !Number.isSafeInteger(sorted[sorted.length - 1])))
    throw new RangeError("deletion vector positions must be non-negative safe integers");
  const byKey: { key: number; lows: number[] }[] = [];
  for (const p of sorted) {
    const key = Math.floor(p / 2 ** 32);
    const low = p - key * 2 ** 32;
    const last = byKey[byKey.length - 1];
    if (last && last.key === key) last.lows.push(low);
    else byKey.push({ key, lows: [low] });
  }
  const parts: Buffer[] = [];
  const count = Buffer.alloc(8);
  count.writeBigUInt64LE(BigInt(byKey.length));
  parts.push(count);
  for (const k of byKey) {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(k.key);
    parts.push(key, serialize32(k.lows));
  }
  return Buffer.concat(parts);
}

/** Row positions (ascending) of a portable 64-bit Roaring bitmap. */
export function deserializePositions(vector: Buffer, what = "deletion vector"): number[] {
  const out: number[] = [];
  const n = Number(vector.readBigUInt64LE(0));
  let at = 8;
  let lastKey = -1;
  for (let i = 0; i < n; i++) {
    const key = vector.readUInt32LE(at);
    if (key <= lastKey) throw new CorruptMetadataError(`${what}: Roaring keys are not in ascending order`);
    lastKey = key;
    at = deserialize32(vector, at + 4, key * 2 ** 32, out, what);
  }
  return out;
}

/** A deletion-vector-v1 blob: length, magic, the positions' Roaring bitmap, CRC. */
export function dvBlob(positions: Iterable<number>): Buffer {
  const vector = serializePositions(positions);
  const body = Buffer.concat([DV_MAGIC, vector]);
  const out = Buffer.alloc(4 + body.length + 4);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 4 + body.length);
  return out;
}

/** The positions of a deletion-vector-v1 blob, after checking its length, magic and CRC. */
export function readDvBlob(blob: Uint8Array, what: string): number[] {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (b.length < 12) throw new CorruptMetadataError(`${what}: a deletion vector blob of ${b.length} bytes is too short`);
  const length = b.readUInt32BE(0);
  if (length !== b.length - 8) throw new CorruptMetadataError(`${what}: deletion vector length ${length} does not match its blob (${b.length - 8} bytes)`);
  const body = b.subarray(4, 4 + length);
  if (!body.subarray(0, 4).equals(DV_MAGIC)) throw new CorruptMetadataError(`${what}: not a deletion vector (magic ${body.subarray(0, 4).toString("hex")})`);
  const crc = b.readUInt32BE(4 + length);
  if (crc32(body) !== crc) throw new CorruptMetadataError(`${what}: deletion vector CRC mismatch`);
  return deserializePositions(body.subarray(4), what);
}

// ---- Puffin files ------------------------------------------------------------------------------

export interface DvBlobInput {
  referencedDataFile: string;
  positions: Iterable<number>;
}

export interface DvBlobWritten {
  referencedDataFile: string;
  cardinality: number;
  offset: number;
  length: number;
}

/**
 * A Puffin file holding one deletion-vector-v1 blob per input (uncompressed footer), shortest blob
 * first (see the file head); `blobs` is in file order.
 */
export function writeDvPuffin(inputs: DvBlobInput[]): { bytes: Buffer; blobs: DvBlobWritten[] } {
  const parts: Buffer[] = [PUFFIN_MAGIC];
  let offset = PUFFIN_MAGIC.length;
  const blobs: DvBlobWritten[] = [];
  const meta = [];
  const encoded = inputs
    .map((input) => {
      const positions = [...new Set(input.positions)];
      return { input, positions, blob: dvBlob(positions) };
    })
    .sort((a, b) => a.blob.length - b.blob.length || (a.input.referencedDataFile < b.input.referencedDataFile ? -1 : 1));
  for (const { input, positions, blob } of encoded) {
    parts.push(blob);
    blobs.push({ referencedDataFile: input.referencedDataFile, cardinality: positions.length, offset, length: blob.length });
    meta.push({
      type: DV_BLOB_TYPE,
      fields: [ROW_POSITION_FIELD_ID],
      "snapshot-id": -1,
      "sequence-number": -1,
      offset,
      length: blob.length,
      properties: { "referenced-data-file": input.referencedDataFile, cardinality: String(positions.length) },
    });
    offset += blob.length;
  }
  const payload = Buffer.from(JSON.stringify({ blobs: meta, properties: { "created-by": "floe iceberg writer" } }), "utf8");
  const tail = Buffer.alloc(8);
  tail.writeInt32LE(payload.length, 0);
  tail.writeInt32LE(0, 4); // flags: footer not compressed
  parts.push(PUFFIN_MAGIC, payload, tail, PUFFIN_MAGIC);
  return { bytes: Buffer.concat(parts), blobs };
}

export interface PuffinBlobMetadata {
  type: string;
  fields: number[];
  offset: number;
  length: number;
  "compression-codec"?: string;
  properties?: Record<string, string>;
}

/** The footer of a Puffin file (uncompressed footers only). */
export function readPuffinFooter(file: Uint8Array, what: string): { blobs: PuffinBlobMetadata[]; properties?: Record<string, string> } {
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (b.length < 20 || !b.subarray(0, 4).equals(PUFFIN_MAGIC) || !b.subarray(b.length - 4).equals(PUFFIN_MAGIC))
    throw new CorruptMetadataError(`${what}: not a Puffin file`);
  const size = b.readInt32LE(b.length - 12);
  const flags = b.readInt32LE(b.length - 8);
  if (flags & 1) throw new CorruptMetadataError(`${what}: compressed Puffin footers are not supported`);
  const start = b.length - 12 - size;
  if (start < 8 || !b.subarray(start - 4, start).equals(PUFFIN_MAGIC))
    throw new CorruptMetadataError(`${what}: Puffin footer size ${size} does not fit the file`);
  try {
    return JSON.parse(b.subarray(start, start + size).toString("utf8"));
  } catch (e) {
    throw new CorruptMetadataError(`${what}: Puffin footer is not JSON: ${(e as Error).message}`);
  }
}
