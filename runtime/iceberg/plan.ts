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
