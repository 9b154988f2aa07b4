/**
 * The catalog contract every Iceberg catalog implements (SQL catalog in sql-catalog.ts, REST
 * catalog in rest.ts). Names follow the Iceberg REST catalog OpenAPI spec: a commit is a list of
 * *requirements* (assertions on the base metadata) and *updates* (metadata changes), applied
 * atomically or not at all.
 *
 * Contract for implementers:
 * - `commitTable` either applies every update (after checking every requirement against the
 *   catalog's *current* metadata) or throws `CommitConflictError` (a requirement failed / the
 *   compare-and-swap lost: the caller reloads and retries) or another error (state unknown only
 *   if it is `CommitStateUnknownError`; anything else means nothing was committed). Sending the
 *   same commit again is safe: its requirements fail once it has landed. A caller that got
 *   `CommitStateUnknownError` does exactly that until the answer is definite (SnapshotProducer).
 * - `loadTable` of a table that does not exist throws `NoSuchTableError`.
 * - Catalogs that apply updates client-side (SQL) use `applyUpdates` from metadata.ts so every
 *   catalog produces the same metadata for the same commit.
 */
import { randomBytes } from "node:crypto";
import type { FileIO } from "./io";
import type { PartitionSpec, Schema, Snapshot, SnapshotRef, SortOrder, TableMetadata } from "./spec";

/** A table name inside a (possibly nested) namespace, e.g. { namespace: ["db", "public"], name: "orders" }. */
export interface TableIdentifier {
  namespace: string[];
  name: string;
}

export function tableIdString(id: TableIdentifier): string {
  return [...id.namespace, id.name].join(".");
}

/** Parses "a.b.table" into a TableIdentifier (the last part is the table name). */
export function parseTableId(text: string): TableIdentifier {
  const parts = text.split(".").filter((p) => p.length > 0);
  if (parts.length < 2) throw new Error(`table identifier "${text}" needs a namespace and a name, e.g. "db.orders"`);
  return { namespace: parts.slice(0, -1), name: parts[parts.length - 1] };
}

// ---- commit requirements (REST: TableRequirement) -------------------------------------------

export type TableRequirement =
  | { type: "assert-create" }
  | { type: "assert-table-uuid"; uuid: string }
  | { type: "assert-ref-snapshot-id"; ref: string; "snapshot-id": bigint | null }
  | { type: "assert-last-assigned-field-id"; "last-assigned-field-id": number }
  | { type: "assert-current-schema-id"; "current-schema-id": number }
  | { type: "assert-last-assigned-partition-id"; "last-assigned-partition-id": number }
  | { type: "assert-default-spec-id"; "default-spec-id": number }
  | { type: "assert-default-sort-order-id"; "default-sort-order-id": number };

// ---- metadata updates (REST: TableUpdate) ---------------------------------------------------

export type TableUpdate =
  | { action: "assign-uuid"; uuid: string }
  | { action: "upgrade-format-version"; "format-version": number }
  | { action: "add-schema"; schema: Schema; "last-column-id"?: number }
  /** -1 means "the schema added last in this commit". */
  | { action: "set-current-schema"; "schema-id": number }
  | { action: "add-spec"; spec: PartitionSpec }
  | { action: "set-default-spec"; "spec-id": number }
  | { action: "add-sort-order"; "sort-order": SortOrder }
  | { action: "set-default-sort-order"; "sort-order-id": number }
  | { action: "add-snapshot"; snapshot: Snapshot }
  | ({ action: "set-snapshot-ref"; "ref-name": string } & SnapshotRef)
  | { action: "remove-snapshots"; "snapshot-ids": bigint[] }
  | { action: "remove-snapshot-ref"; "ref-name": string }
  | { action: "set-location"; location: string }
  | { action: "set-properties"; updates: Record<string, string> }
  | { action: "remove-properties"; removals: string[] };

/** REST CreateTableRequest. */
export interface CreateTableRequest {
  name: string;
  /** Defaults to `<warehouse>/<namespace path>/<name>`. */
  location?: string;
  schema: Schema;
  "partition-spec"?: PartitionSpec;
  "write-order"?: SortOrder;
  properties?: Record<string, string>;
}

/** How one commit is sent. */
export interface CommitOptions {
  /**
   * One key per logical commit, the same on every re-send of it (REST: the `Idempotency-Key`
   * header, sent when the catalog advertises support). A UUIDv7 (`idempotencyKey()`).
   */
  idempotencyKey?: string;
}

/** A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits; what the REST spec asks for as Idempotency-Key. */
export function idempotencyKey(nowMs = Date.now()): string {
  const b = randomBytes(16);
  b.writeUIntBE(nowMs, 0, 6);
  b[6] = (b[6] & 0x0f) | 0x70; // version 7
  b[8] = (b[8] & 0x3f) | 0x80; // variant 10
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** REST LoadTableResult. */
export interface LoadTableResult {
  "metadata-location": string;
  metadata: TableMetadata;
  /** Per-table FileIO configuration (REST: credentials, endpoint). */
  config?: Record<string, string>;
}

export interface Catalog {
  /** Catalog name (SQL: the catalog_name column; REST: the configured name). */
  readonly name: string;

  createNamespace(namespace: string[], properties?: Record<string, string>): Promise<void>;
  namespaceExists(namespace: string[]): Promise<boolean>;
  listNamespaces(parent?: string[]): Promise<string[][]>;
  dropNamespace(namespace: string[]): Promise<void>;

  listTables(namespace: string[]): Promise<TableIdentifier[]>;
  tableExists(id: TableIdentifier): Promise<boolean>;
  /** Creates the table with its first metadata file; throws `TableAlreadyExistsError`. */
  createTable(id: TableIdentifier, request: CreateTableRequest): Promise<LoadTableResult>;
  /** Throws `NoSuchTableError` when the table is unknown. */
  loadTable(id: TableIdentifier): Promise<LoadTableResult>;
  /**
   * Atomically checks `requirements` against the current metadata and applies `updates`.
   * Throws `CommitConflictError` when a requirement fails or another writer won the race.
   */
  commitTable(id: TableIdentifier, requirements: TableRequirement[], updates: TableUpdate[], options?: CommitOptions): Promise<LoadTableResult>;
  /** Removes the table from the catalog; with `purge`, also deletes its files where supported. */
  dropTable(id: TableIdentifier, purge?: boolean): Promise<void>;

  /** The FileIO to read and write this table's files (data, manifests, metadata). */
  fileIO(table: LoadTableResult): FileIO;

  /**
   * True when this client writes the metadata files itself (SQL, memory catalogs), so the table
   * writer also removes old ones (write.metadata.delete-after-commit.enabled). REST catalogs
   * leave this unset: the server owns its metadata files.
   */
  readonly writesMetadataFiles?: boolean;
}

// ---- errors ---------------------------------------------------------------------------------

export class IcebergError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
export class NoSuchTableError extends IcebergError {}
export class NoSuchNamespaceError extends IcebergError {}
export class TableAlreadyExistsError extends IcebergError {}
export class NamespaceAlreadyExistsError extends IcebergError {}
/** A requirement failed or a concurrent commit won: reload, rebase and retry. */
export class CommitConflictError extends IcebergError {}
/** The commit may or may not have landed (a lost reply, a timeout, a 5xx): its files must not be deleted. */
export class CommitStateUnknownError extends IcebergError {}
/** A schema/type the writer does not support, or a value that does not fit its column. */
export class ValidationError extends IcebergError {}
/** Metadata, a manifest or a data file could not be read or parsed. */
export class CorruptMetadataError extends IcebergError {}
