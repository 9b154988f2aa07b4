/**
 * Applying a committed source transaction to the pending writes of its tables.
 *
 * Mirror tables turn inserts and updates into upserts and deletes into position deletes (located
 * through the table's primary-key index by the Iceberg writer); an update that moves a row's key
 * deletes the old key. Changelog tables append one row per change with its op, commit LSN, commit
 * time, xid and source. A table skips the transactions at or below its own LSN for the source (they
 * are in Iceberg already) and takes the transaction's commit LSN, so the next flush records it.
 *
 * Unchanged TOAST values (pgoutput leaves them out of an update) are filled from the row's previous
 * version: the pending batch's, then the pending write's spilled files, then the table's data files
 * (runtime/cdc/toast.ts). Nothing is committed here: runtime/cdc/writer.ts flushes.
 */
import { cdcMetrics } from "./metrics";
import { Tuple, UNCHANGED } from "./pgoutput";
import { currentNames, RowCounter, rowKey, trackLatest, tracksLatest } from "./rows";
import type { ReplicationSource } from "./source";
import { CdcStopError, Column, lsnSummary, RowChange, TableState, Txn } from "./state";

/** Row counts of apply(), handed to cdcMetrics.rows once per event-loop turn. */
const rowCounter = new RowCounter(cdcMetrics.rows);

/** What one transaction added to the pending writes: changes applied and their estimated size, for the flush triggers. */
export interface Applied {
  rows: number;
  bytes: number;
}

/**
 * Applies a transaction's changes to its tables' pending writes, in order. A truncate of a mirror
 * table commits on its own (the caller flushes the batch before a transaction that truncates).
 */
export async function applyTransaction(src: ReplicationSource, txn: Txn, commitLsn: bigint): Promise<Applied> {
  const applied: Applied = { rows: 0, bytes: 0 };
  const inserts = new InsertColumns(src, applied);
  for await (const batch of txn.changes.batches()) {
    for (const change of batch) {
      const state = change.state;
      const tableLsn = state.lsn.get(src.key);
      if (tableLsn !== undefined && commitLsn <= tableLsn) continue; // already in Iceberg
      applied.rows += change.kind === "T" ? 0 : 1;
      if (change.kind === "I" && state.mode === "mirror" && !(state.pending && tracksLatest(state.pending))) {
        if (inserts.add(change)) await backpressure(state);
        continue;
      }
      inserts.flush(state); // the table's earlier inserts go first
      if (change.kind === "T") {
        await truncate(src, txn, commitLsn, state);
        continue;
      }
      const filling = apply(src, txn, commitLsn, change, applied);
      if (filling) await filling;
      const spilling = backpressure(state);
      if (spilling) await spilling;
    }
  }
  inserts.flushAll();
  for (const state of txn.changes.tables()) {
    const tableLsn = state.lsn.get(src.key);
    if (tableLsn === undefined || commitLsn > tableLsn) {
      state.lsn.set(src.key, commitLsn);
      if (!state.pending) state.pending = state.table.newWrite();
    }
  }
  return applied;
}

const keyOf = (state: TableState, row: Record<string, unknown>): string => rowKey(state.pk, row);

/** A big transaction waits for its table's spills rather than queueing rows in memory. */
function backpressure(state: TableState): Promise<void> | undefined {
  return state.pending && state.pending.pendingSpills > 1 ? state.pending.ready() : undefined;
}

/** Rows of inserts gathered per table before they go to its write as one column batch. */
const INSERT_BATCH_ROWS = 8192;

/**
 * Inserts into mirror tables, gathered as columns while they come one after another and handed to
 * the table's write as column batches (upsertColumns, same semantics as upsert): the rows of a
 * big insert become no row objects and no per-row operations. A table's batch is handed over
 * before any other change to it, when the column layout changes, every INSERT_BATCH_ROWS rows, and
 * at the transaction's end; tables that track their latest row versions (rows.ts) take rows.
 */
class InsertColumns {
  private readonly open = new Map<TableState, { layout: Column[]; names: string[]; at: number[]; values: unknown[][]; rows: number }>();

  constructor(
    private readonly src: ReplicationSource,
    private readonly applied: Applied,
  ) {}

  /** Adds an insert; true when its table's batch was handed over (the caller may wait for spills). */
  add(change: RowChange): boolean {
    const state = change.state;
    let b = this.open.get(state);
    if (b && b.layout !== change.columns) {
      this.flush(state);
      b = undefined;
    }
    if (!b) {
      const current = state.layouts.get(this.src.key);
      if (!current) throw new Error(`${state.key}: no column layout for source ${this.src.key}`);
      const names = currentNames(change.columns, current);
      const at = names.flatMap((n, i) => (n === undefined ? [] : [i])); // columns dropped since are left out
      b = { layout: change.columns, names: at.map((i) => names[i]!), at, values: at.map(() => []), rows: 0 };
      this.open.set(state, b);
    }
    const { tuple, columns } = change;
    let bytes = 0;
    for (let j = 0; j < b.at.length; j++) {
      const i = b.at[j];
      const v = tuple[i];
      if (v === UNCHANGED) throw new CdcStopError(`${state.key}.${b.names[j]}: pgoutput sent no value for a column of an inserted row`);
      b.values[j].push(v === null ? null : columns[i].mapped.convert(v));
      bytes += v === null ? 1 : v.length;
    }
    this.applied.bytes += bytes;
    rowCounter.add(state.key, "I");
    if (++b.rows < INSERT_BATCH_ROWS) return false;
    this.flush(state);
    return true;
  }

  /** Hands the table's batch to its write. */
  flush(state: TableState): void {
    const b = this.open.get(state);
    if (!b) return;
    this.open.delete(state);
    (state.pending ??= state.table.newWrite()).upsertColumns({ names: b.names, columns: b.values, rowCount: b.rows });
  }

  flushAll(): void {
    for (const state of [...this.open.keys()]) this.flush(state);
  }
}

/**
 * A tuple as a row of the table's current column names (dropped columns left out), each value
 * decoded with the type of the layout it was sent in (`columns`); counts its size into `applied`.
 */
function toRow(
  src: ReplicationSource,
  columns: Column[],
  tuple: Tuple,
  state: TableState,
  applied: Applied,
  fill?: Record<string, unknown> | null,
): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  const current = state.layouts.get(src.key);
  if (!current) throw new Error(`${state.key}: no column layout for source ${src.key}`);
  const names = currentNames(columns, current);
  let bytes = 0;
  for (let i = 0; i < columns.length; i++) {
    const c = columns[i];
    const v = tuple[i];
    const name = names[i];
    if (name === undefined) continue; // dropped since
    if (v === UNCHANGED) {
      if (!fill || !(name in fill)) {
        throw new CdcStopError(`${state.key}.${name}: pgoutput sent no value for an unchanged TOAST column and the previous row version is not available`);
      }
      row[name] = fill[name];
    } else row[name] = v === null ? null : c.mapped.convert(v);
    bytes += v && v !== UNCHANGED ? v.length : 1;
  }
  applied.bytes += bytes;
  return row;
}

/** Applies one row change; a promise only when an unchanged TOAST value must be looked up first. */
function apply(src: ReplicationSource, txn: Txn, commitLsn: bigint, change: RowChange, applied: Applied): Promise<void> | undefined {
  const state = change.state;
  const tx = (state.pending ??= state.table.newWrite());
  if (state.mode === "changelog") {
    const row = toRow(
      src,
      change.columns,
      change.tuple.map((v) => (v === UNCHANGED ? null : v)),
      state,
      applied,
    );
    tx.append([{ ...row, _op: change.kind, _lsn: commitLsn, _commit_time: txn.commitTime, _xid: BigInt(txn.xid), _source: src.name }]);
    rowCounter.add(state.key, change.kind);
    return;
  }
  // state.latest is filled only once an update needs it (see rows.ts trackLatest).
  if (change.kind === "D") {
    const keyRow = toRow(src, change.columns, change.tuple, state, applied);
    tx.delete([keyRow]);
    if (tracksLatest(tx)) state.latest.set(keyOf(state, keyRow), null);
    rowCounter.add(state.key, "D");
    return;
  }
  if (change.kind === "U" && change.tuple.includes(UNCHANGED)) {
    trackLatest(tx, state.pk, state.latest);
    return previousVersion(src, state, change, applied).then((fill) => upsert(src, state, change, applied, fill));
  }
  upsert(src, state, change, applied);
}

/** An insert or update of a mirror table: upserts the row (deleting the old key when an update moved it). */
function upsert(src: ReplicationSource, state: TableState, change: RowChange, applied: Applied, fill?: Record<string, unknown> | null): void {
  const tx = state.pending!;
  const row = toRow(src, change.columns, change.tuple, state, applied, fill);
  if (change.kind === "U" && change.oldKey) {
    const oldKey = toRow(src, change.columns, change.oldKey, state, applied);
    if (keyOf(state, oldKey) !== keyOf(state, row)) {
      tx.delete([oldKey]);
      if (tracksLatest(tx)) state.latest.set(keyOf(state, oldKey), null);
    }
  }
  tx.upsert([row]);
  if (tracksLatest(tx)) state.latest.set(keyOf(state, row), row);
  rowCounter.add(state.key, change.kind);
}

/**
 * The row version before an update, for columns pgoutput left out (unchanged TOAST). An update
 * that moves the key carries the old key (its 'K' or 'O' tuple): the previous version is found
 * under that key, not the new one.
 */
async function previousVersion(src: ReplicationSource, state: TableState, change: RowChange, applied: Applied): Promise<Record<string, unknown> | null> {
  const before = change.kind === "U" && change.oldKey ? change.oldKey : change.tuple;
  const probe = toRow(
    src,
    change.columns,
    before.map((v, i) => (v === UNCHANGED && !state.pk.includes(change.columns[i].pg.name) ? null : v)),
    state,
    applied,
  );
  const key = keyOf(state, probe);
  if (state.latest.has(key)) return state.latest.get(key)!;
  // rows of the pending write already spilled to its data files are newer than the table's
  const spilled = await state.pending?.spilledVersion(probe);
  if (spilled !== undefined) return spilled;
  return state.previous.lookup(probe);
}

/**
 * A mirror table is emptied in a commit of its own (the rest of the transaction lands in the next
 * one); a changelog keeps its history and gets a T row. The transaction's earlier changes to a
 * mirror table are dropped with it: the batch holds nothing else (the caller flushed before).
 */
async function truncate(src: ReplicationSource, txn: Txn, commitLsn: bigint, state: TableState): Promise<void> {
  cdcMetrics.rows.inc({ table: state.key, op: "T" });
  if (state.mode === "changelog") {
    const nulls = Object.fromEntries((state.layouts.get(src.key) ?? []).map((c) => [c.pg.name, null]));
    (state.pending ??= state.table.newWrite()).append([
      { ...nulls, _op: "T", _lsn: commitLsn, _commit_time: txn.commitTime, _xid: BigInt(txn.xid), _source: src.name },
    ]);
    return;
  }
  await state.pending?.abort(); // deletes the files it may have spilled
  state.pending = undefined;
  state.latest.clear();
  state.previous.clear();
  // The old LSN stays on the truncate commit: replaying the transaction empties the table again.
  await state.table.truncate(lsnSummary(state));
}
