/**
 * Pure write planning: dedupe a batch of operations by key (last op per key wins) and turn the
 * result into rows to write plus positions to delete, given the primary-key index.
 */
import type { IndexKey, RowLocation } from "./pkindex";

/** A delete may keep the key object it was given (`keyRow`), for callers that list pending changes. */
export type Op<R> = { kind: "upsert"; key: IndexKey; row: R } | { kind: "delete"; key: IndexKey; keyRow?: unknown };

/** Last operation per key wins; returns the final op per key in first-seen key order. */
export function dedupe<R>(ops: Op<R>[]): Map<IndexKey, Op<R>> {
  const out = new Map<IndexKey, Op<R>>();
  for (const op of ops) out.set(op.key, op);
  return out;
}

/**
 * Whether every op is an upsert and no key repeats: then dedupe / planWrite would change nothing
 * and the ops can be written as they are (a big transaction of inserts). Number keys are checked
 * by sorting (a few times faster than a Set at a million keys).
 */
export function uniqueUpserts<R>(ops: Op<R>[]): boolean {
  const n = ops.length;
  let numeric = true;
  for (let i = 0; i < n; i++) {
    const op = ops[i];
    if (op.kind !== "upsert") return false;
    if (typeof op.key !== "number") numeric = false;
  }
  if (!numeric) return new Set(ops.map((op) => op.key)).size === n;
  const sorted = new Float64Array(n);
  for (let i = 0; i < n; i++) sorted[i] = ops[i].key as number;
  sorted.sort();
  for (let i = 1; i < n; i++) if (sorted[i] === sorted[i - 1]) return false;
  return true;
}

export interface WritePlan<R> {
  /** Rows to write into new data files, with their keys (same order). */
  rows: R[];
  keys: IndexKey[];
  /** Existing rows to delete by position. */
  deletes: (RowLocation & { key: IndexKey })[];
}

/** Plans the final ops against the index: every existing key touched gets a position delete. */
export function planWrite<R>(finalOps: Map<IndexKey, Op<R>>, lookup: (key: IndexKey) => RowLocation | undefined): WritePlan<R> {
  const rows: R[] = [];
  const keys: IndexKey[] = [];
  const deletes: (RowLocation & { key: IndexKey })[] = [];
  for (const [key, op] of finalOps) {
    const loc = lookup(key);
    if (loc) deletes.push({ ...loc, key });
    if (op.kind === "upsert") {
      rows.push(op.row);
      keys.push(key);
    }
  }
  return { rows, keys, deletes };
}
