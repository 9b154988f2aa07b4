/**
 * Per-row helpers of the CDC writer's streaming path, kept free of per-row searches: the column
 * layout mapping is computed once per (captured layout, current layout) pair, not per value.
 */

interface NamedColumn {
  pg: { attnum: number; name: string };
}

const layouts = new WeakMap<readonly NamedColumn[], { current: readonly NamedColumn[]; names: (string | undefined)[] }>();

/**
 * For each column of a captured layout (a relation message's), its name in the table's current
 * layout by attnum (renames follow the attnum), or undefined when it was dropped since. Layout
 * arrays are replaced, never changed in place, so identity is the cache key.
 */
export function currentNames(captured: readonly NamedColumn[], current: readonly NamedColumn[]): (string | undefined)[] {
  const hit = layouts.get(captured);
  if (hit && hit.current === current) return hit.names;
  const names = captured.map((c) => current.find((x) => x.pg.attnum === c.pg.attnum)?.pg.name);
  layouts.set(captured, { current, names });
  return names;
}

/** The writer's in-batch key of a row: its primary key values as text, NUL-separated. */
export function rowKey(pk: readonly string[], row: Record<string, unknown>): string {
  if (pk.length === 1) return String(row[pk[0]]);
  let out = String(row[pk[0]]);
  for (let i = 1; i < pk.length; i++) out += "\u0000" + String(row[pk[i]]);
  return out;
}

/**
 * Pending write transactions whose table's `latest` map (row version per key in the batch, for
 * unchanged TOAST values) is complete. Filling it costs a map insert per row; it is needed only
 * when an update leaves a TOAST value out, so it is built from the transaction's pending rows at
 * that moment and kept up to date from then on.
 */
const latestTracked = new WeakSet<object>();

export interface PendingRows {
  forEachPending(fn: (row: Record<string, unknown>, deleted: boolean) => void): void;
  /** Called when the pending rows are written out of memory (see WriteTransaction.onSpill). */
  onSpill?(fn: () => void): void;
}

/** Whether `latest` is kept up to date for this pending transaction. */
export function tracksLatest(tx: object): boolean {
  return latestTracked.has(tx);
}

/** Fills `latest` from the transaction's pending rows (in order: the last version wins) and tracks it from now on. */
export function trackLatest(tx: PendingRows, pk: readonly string[], latest: Map<string, Record<string, unknown> | null>): void {
  if (latestTracked.has(tx)) return;
  tx.forEachPending((row, deleted) => latest.set(rowKey(pk, row), deleted ? null : row));
  // Once spilled, those rows are found in the transaction's files (spilledVersion): the map holds
  // only what is still buffered, so it stays as bounded as the buffer.
  tx.onSpill?.(() => latest.clear());
  latestTracked.add(tx);
}

/**
 * Row counts for the rows metric, added up and handed to the counter once per turn of the event
 * loop instead of a labelled increment per row.
 */
export class RowCounter {
  private counts: { table: string; op: string; n: number }[] = [];
  private last?: { table: string; op: string; n: number };
  private scheduled = false;

  constructor(private readonly counter: { inc(labels: { table: string; op: string }, value: number): void }) {}

  add(table: string, op: string): void {
    let c = this.last;
    if (!c || c.table !== table || c.op !== op) {
      c = this.counts.find((x) => x.table === table && x.op === op);
      if (!c) this.counts.push((c = { table, op, n: 0 }));
      this.last = c;
    }
    c.n++;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    const counts = this.counts;
    this.counts = [];
    this.last = undefined;
    for (const c of counts) this.counter.inc({ table: c.table, op: c.op }, c.n);
  }
}
