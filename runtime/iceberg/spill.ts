/**
 * Heap-size estimates of buffered rows, for a write transaction's spill threshold (see
 * WriteTransaction in transaction.ts). Rough on purpose: a few rows of each call are measured and the
 * average stands for all of them, so the cost per row stays a counter increment.
 */

/** Rows measured per call (spread evenly over the rows handed in). */
const SAMPLE = 8;

/** Estimated heap bytes of one canonical value. */
export function valueBytes(v: unknown): number {
  if (v === null || v === undefined) return 8;
  switch (typeof v) {
    case "string":
      return 24 + v.length * 2;
    case "number":
    case "boolean":
      return 8;
    case "bigint":
      return 24;
    case "object": {
      if (v instanceof Uint8Array) return 64 + v.byteLength;
      if (Array.isArray(v)) {
        let n = 32;
        for (const x of v) n += 8 + valueBytes(x);
        return n;
      }
      if (v instanceof Date) return 48;
      let n = 64;
      for (const x of Object.values(v as Record<string, unknown>)) n += 16 + valueBytes(x);
      return n;
    }
    default:
      return 32;
  }
}

/** Estimated heap bytes of row objects (sampled). */
export function rowsBytes(rows: readonly Record<string, unknown>[]): number {
  const n = rows.length;
  if (n === 0) return 0;
  const step = Math.max(1, Math.floor(n / SAMPLE));
  let sum = 0;
  let seen = 0;
  for (let r = 0; r < n && seen < SAMPLE; r += step, seen++) {
    sum += 64;
    for (const v of Object.values(rows[r])) sum += 16 + valueBytes(v);
  }
  return Math.ceil((sum / seen) * n);
}

/** Estimated heap bytes of a column batch (typed arrays count their element size; sampled). */
export function columnsBytes(columns: readonly ArrayLike<unknown>[], rowCount: number): number {
  if (rowCount === 0) return 0;
  let sum = 0;
  for (const col of columns) {
    if (ArrayBuffer.isView(col)) {
      sum += (col as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT * rowCount;
      continue;
    }
    const step = Math.max(1, Math.floor(rowCount / SAMPLE));
    let s = 0;
    let seen = 0;
    for (let r = 0; r < rowCount && seen < SAMPLE; r += step, seen++) s += 8 + valueBytes(col[r]);
    sum += Math.ceil((s / seen) * rowCount);
  }
  return sum;
}
