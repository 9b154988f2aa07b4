/**
 * The public table API: create/load tables, write transactions (upsert / delete / append with a
 * custom snapshot summary), truncate, schema evolution. See index.ts for the value conventions.
 */
import type { Catalog, TableIdentifier } from "./catalog";
import type { Schema, Snapshot, TableMetadata } from "./spec";
import type { ColumnDef, ColumnType } from "./types";

/** A row: column name -> canonical JS value (see index.ts). Missing columns are null. */
export type Row = Record<string, unknown>;
/** A primary key: identifier column name -> value (a full row works too). */
export type RowKey = Record<string, unknown>;

export interface CreateTableOptions {
  columns: ColumnDef[];
  /** Identifier (primary-key) column names. Defaults to none: an append-only table. */
  identifier?: string[];
  /** Identity partition columns. Defaults to unpartitioned. */
  partitionBy?: string[];
  /** Sort order columns (ascending, nulls first), recorded in metadata. Defaults to unsorted. */
  sortBy?: string[];
  /** Table properties. */
  properties?: Record<string, string>;
  /** Defaults to the catalog's `<warehouse>/<namespace>/<name>`. */
  location?: string;
}

export interface TableOptions {
  /** Commit attempts before giving up on conflicts. Defaults to 8. */
  maxCommitAttempts?: number;
  /** First retry backoff in ms (doubles, with jitter). Defaults to 25. */
  retryBaseMs?: number;
  /** Target rows per data file. Defaults to 1,000,000. */
  rowsPerFile?: number;
}

export interface CommitResult {
  snapshotId: bigint;
  sequenceNumber: number;
  metadataLocation: string;
  /** Attempts it took (1 = no conflict). */
  attempts: number;
  addedRows: number;
  deletedRows: number;
}

export declare class Table {
  readonly id: TableIdentifier;
  readonly catalog: Catalog;
  /** Creates the table (throws TableAlreadyExistsError). */
  static create(catalog: Catalog, id: TableIdentifier, options: CreateTableOptions, tableOptions?: TableOptions): Promise<Table>;
  /** Loads the table and rebuilds its primary-key index (throws NoSuchTableError). */
  static load(catalog: Catalog, id: TableIdentifier, tableOptions?: TableOptions): Promise<Table>;
  get metadata(): TableMetadata;
  get metadataLocation(): string;
  /** The current schema. */
  schema(): Schema;
  currentSnapshot(): Snapshot | undefined;
  /** A property of the current snapshot's summary (e.g. the CDC writer's LSN), or undefined. */
  summaryProperty(key: string): string | undefined;
  /** Reloads metadata from the catalog and catches the index up with other writers' commits. */
  refresh(): Promise<void>;
  /** Starts a write: buffer upserts / deletes / appends, then `commit()` as one snapshot. */
  newWrite(): WriteTransaction;
  /** Deletes every row in one snapshot (summary properties optional). */
  truncate(summary?: Record<string, string>): Promise<CommitResult>;
  /** Starts a schema change; `commit()` adds one new schema and makes it current. */
  updateSchema(): SchemaUpdate;
}

export declare class WriteTransaction {
  /** Inserts or replaces rows by primary key (tables with identifier fields). Last op per key wins. */
  upsert(rows: Row[]): this;
  /** Deletes rows by primary key; unknown keys are ignored. */
  delete(keys: RowKey[]): this;
  /** Appends rows without key lookup (tables without identifier fields, e.g. changelog tables). */
  append(rows: Row[]): this;
  /** Adds custom snapshot summary properties (e.g. "floe.lsn.shard-0"). */
  setSummary(props: Record<string, string>): this;
  /** Writes files and commits one snapshot; retries on conflict; deletes its files on failure. */
  commit(): Promise<CommitResult>;
}

export declare class SchemaUpdate {
  addColumn(name: string, type: ColumnType, options?: { required?: false; doc?: string }): this;
  dropColumn(name: string): this;
  renameColumn(from: string, to: string): this;
  /** Widen: int->long, float->double, decimal(p,s)->decimal(P,s) with P >= p. */
  updateColumnType(name: string, type: string): this;
  commit(): Promise<Schema>;
}
