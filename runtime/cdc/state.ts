/**
 * What the CDC writer's pipeline (runtime/cdc/writer.ts) and its modules share: the state of each
 * replicated table, the changes of a source transaction, the writer's status, and the error that
 * stops it. Types and small pure helpers only; every other module of the writer may import this one,
 * and it imports none of them.
 */
import type { Logger } from "../core/log";
import type { Catalog, TableIdentifier } from "../iceberg/catalog";
import type { Table, WriteTransaction } from "../iceberg/table";
import type { Handoff } from "./handoff";
import type { Tuple } from "./pgoutput";
import type { SourceTable } from "./source";
import type { ChangeSpool } from "./spool";
import type { PreviousVersions } from "./toast";
import type { MappedType, PgColumn } from "./types";

export { CdcStopError } from "./errors";

/** The snapshot summary key holding, per source, the commit LSN of the last transaction a table holds. */
export const lsnKey = (source: string): string => `floe.lsn.${source}`;

export interface WriterDeps {
  catalog: Catalog;
  log: Logger;
}

export interface WriterStatus {
  state: "starting" | "snapshotting" | "streaming" | "stopped" | "failed";
  error?: string;
  /** Per source; `server` and `generation` appear once it followed an upgrade (generation 1 = first new primary). */
  sources: Record<string, { confirmedLsn?: string; lastCommitTime?: string; server?: string; generation?: number }>;
  /** Initial copies in progress, by table (runtime/cdc/copy-progress.ts). */
  copies?: Record<string, CopyStatus>;
}

/** A table's initial copy as it goes. */
export interface CopyStatus {
  rows: number;
  bytes: number;
  /** Postgres' estimate of the table's rows (pg_class.reltuples) at the copy's snapshot; absent when unknown. */
  estimatedRows?: number;
  rowsPerSecond: number;
  /** Seconds left at the rate so far; absent without an estimate. */
  etaSeconds?: number;
  startedAt: string;
}

/**
 * A source column: as Postgres describes it (attnum 0 when not known: a table loaded from Iceberg
 * before the writer recorded it), and how it maps to Iceberg.
 */
export interface Column {
  pg: PgColumn;
  mapped: MappedType;
}

/** One replicated table: its Iceberg table, its current source layout and what is pending for it. */
export interface TableState {
  /** "schema.table" of the source table. */
  key: string;
  source: SourceTable;
  mode: "mirror" | "changelog";
  id: TableIdentifier;
  table: Table;
  /**
   * Per source (by key, see ReplicationSource.key): the table's columns as the writer follows them
   * now, with that server's attnums and the Iceberg names (replaced, never changed in place).
   */
  layouts: Map<string, Column[]>;
  pk: string[];
  /** Per source: LSN of the last transaction committed to this table. */
  lsn: Map<string, bigint>;
  /** The write collecting the table's changes until the next flush. */
  pending?: WriteTransaction;
  /** Latest row version per key written in the pending batch (for unchanged TOAST values). */
  latest: Map<string, Record<string, unknown> | null>;
  previous: PreviousVersions;
}

/** The summary entries that record a table's per-source LSNs (written with every commit to it). */
export function lsnSummary(state: TableState): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, lsn] of state.lsn) out[lsnKey(name)] = lsn.toString();
  return out;
}

/** A change of a source transaction, with the column layout its relation message announced. */
export type Change =
  | { kind: "I" | "U"; state: TableState; columns: Column[]; tuple: Tuple; oldKey?: Tuple }
  | { kind: "D"; state: TableState; columns: Column[]; tuple: Tuple }
  | { kind: "T"; state: TableState };

/** A change that carries a row (everything but a truncate). */
export type RowChange = Exclude<Change, { kind: "T" }>;

/** A source transaction as read from the stream, until its commit. */
export interface Txn {
  xid: number;
  finalLsn: bigint;
  commitTime: bigint;
  /**
   * Its changes until its commit: in memory up to commit.changeSpillBytes, then in a temp file
   * (runtime/cdc/spool.ts). A subtransaction's abort drops that subtransaction's changes.
   */
  changes: ChangeSpool<Change>;
  /** An upgrade handoff written in this transaction (runtime/cdc/handoff.ts). */
  handoff?: Handoff;
  /** Per table it changes: the column layout of its last change (the one its tables follow before it applies). */
  layouts: Map<TableState, Column[]>;
}
