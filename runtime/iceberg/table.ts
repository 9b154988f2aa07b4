/**
 * The public table API: create/load tables, write transactions (upsert / delete / append with a
 * custom snapshot summary), truncate, schema evolution, maintenance. See index.ts for the value
 * conventions and the primary-key index design.
 *
 * Table is a facade over the parts it wires together (the way pyiceberg and Java Iceberg cut
 * theirs): table-ops.ts (shared state and lookups), table-index.ts (the primary-key index kept in
 * step with snapshots), snapshot.ts (the commit loop, manifests, summary), transaction.ts
 * (WriteTransaction), schema-update.ts (SchemaUpdate), maintenance.ts (compact, expiry, orphans),
 * datafiles.ts (data file writing) and deletes.ts (the delete-file seam, by format version).
 */
import { ValidationError, tableIdString, type Catalog, type TableIdentifier } from "./catalog";
import { expireSnapshots, removeOrphanFiles, type ExpiryResult } from "./expire";
import { compact, rewriteManifests, type CompactionResult } from "./maintenance";
import { maintain, maintenanceStatus, type MaintenanceReport, type MaintenanceStatus } from "./maintenance-run";
import { maintenancePolicy, type MaintenancePolicy } from "./maintenance-plan";
import type { IndexKey, PkIndex } from "./pkindex";
import { liveRows } from "./scan";
import { SchemaUpdate } from "./schema-update";
import { STANDARD_SUMMARY, SnapshotProducer } from "./snapshot";
import type { NestedField, PartitionSpec, Schema, Snapshot, SortOrder, TableMetadata } from "./spec";
import { TableIndex } from "./table-index";
import { TableOps, type CommitResult, type Row, type RowKey, type TableOptions } from "./table-ops";
import { WriteTransaction, type WriteOptions } from "./transaction";
import { parsePartitionExpr, parseTransform, partitionFieldName } from "./transforms";
import { buildSchema, isPrimitive, parsePrimitive, type ColumnDef } from "./types";
import type { FieldCodec } from "./values";

export type { CommitResult, Row, RowKey, TableOptions } from "./table-ops";
export type { ColumnBatch } from "./datafiles";
export { dataFileRecord, partitionAvroValue } from "./datafiles";
export { SchemaUpdate } from "./schema-update";
export { WriteTransaction, type WriteOptions } from "./transaction";

export interface CreateTableOptions {
  columns: ColumnDef[];
  /** Identifier (primary-key) column names. Defaults to none: an append-only table. */
  identifier?: string[];
  /**
   * Partition fields: a column name (identity) or a transform of one: "bucket(16, id)",
   * "truncate(4, name)", "year(at)", "month(at)", "day(at)", "hour(at)". Defaults to unpartitioned.
   */
  partitionBy?: string[];
  /** Sort order columns (ascending, nulls first), recorded in metadata. Defaults to unsorted. */
  sortBy?: string[];
  /** Table properties. */
  properties?: Record<string, string>;
  /** Defaults to the catalog's `<warehouse>/<namespace>/<name>`. */
  location?: string;
  /**
   * Iceberg format version, fixed for the table's life: 2 (position delete files) or 3 (deletion
   * vectors in Puffin files, row lineage). Defaults to 2 (see docs/maintenance.md for which engines
   * read which).
   */
  formatVersion?: 2 | 3;
}

export class Table {
  private readonly ops: TableOps;
  private readonly index: TableIndex;
  private readonly producer: SnapshotProducer;

  private constructor(ops: TableOps) {
    this.ops = ops;
    this.index = new TableIndex(ops);
    this.producer = new SnapshotProducer(ops, this.index);
  }

  /** Creates the table (throws TableAlreadyExistsError / ValidationError). */
  static async create(catalog: Catalog, id: TableIdentifier, options: CreateTableOptions, tableOptions: TableOptions = {}): Promise<Table> {
    if (options.formatVersion !== undefined && options.formatVersion !== 2 && options.formatVersion !== 3) {
      throw new ValidationError(`formatVersion is ${options.formatVersion}: a table is created with format version 2 or 3`);
    }
    const { schema } = buildSchema(options.columns, options.identifier ?? []);
    const byName = (n: string, what: string) => {
      const f = schema.fields.find((x) => x.name === n);
      if (!f) throw new ValidationError(`${what} column "${n}" is not a column of ${tableIdString(id)}`);
      if (!isPrimitive(f.type)) throw new ValidationError(`${what} column "${n}" must have a primitive type`);
      return f;
    };
    const spec: PartitionSpec = {
      "spec-id": 0,
      fields: (options.partitionBy ?? []).map((expr, i) => {
        const { column, transform } = parsePartitionExpr(expr);
        const src = byName(column, "partition");
        const t = parseTransform(transform, parsePrimitive(src.type as string), `partition "${expr}"`);
        return { "source-id": src.id, "field-id": 1000 + i, name: partitionFieldName(column, t.name), transform: t.name };
      }),
    };
    const order: SortOrder = {
      "order-id": 1,
      fields: (options.sortBy ?? []).map((n) => ({ "source-id": byName(n, "sort").id, transform: "identity", direction: "asc", "null-order": "nulls-first" })),
    };
    const loaded = await catalog.createTable(id, {
      name: id.name,
      location: options.location,
      schema,
      "partition-spec": spec,
      "write-order": order.fields.length ? order : undefined,
      properties: {
        "write.format.default": "parquet",
        // a CDC table commits often: keep the last 10 metadata files, delete older ones (each is
        // a copy of the whole metadata: 100 of them cost more storage than a small table's data)
        "write.metadata.delete-after-commit.enabled": "true",
        "write.metadata.previous-versions-max": "10",
        ...(options.properties ?? {}),
        ...(options.formatVersion !== undefined ? { "format-version": String(options.formatVersion) } : {}),
      },
    });
    const t = new Table(new TableOps(catalog, id, loaded, tableOptions));
    t.index.init();
    return t;
  }

  /** Loads the table and rebuilds its primary-key index (throws NoSuchTableError). */
  static async load(catalog: Catalog, id: TableIdentifier, tableOptions: TableOptions = {}): Promise<Table> {
    const t = new Table(new TableOps(catalog, id, await catalog.loadTable(id), tableOptions));
    await t.index.rebuild();
    return t;
  }

  get id(): TableIdentifier {
    return this.ops.id;
  }

  get catalog(): Catalog {
    return this.ops.catalog;
  }

  get metadata(): TableMetadata {
    return this.ops.metadata;
  }

  get metadataLocation(): string {
    return this.ops.metadataLocation;
  }

  get location(): string {
    return this.ops.location;
  }

  /** The current schema. */
  schema(): Schema {
    return this.ops.schema();
  }

  spec(): PartitionSpec {
    return this.ops.spec();
  }

  get hasPrimaryKey(): boolean {
    return this.ops.hasPrimaryKey;
  }

  /** Live rows known to the primary-key index (mirror tables). */
  get indexedRows(): number {
    return this.index.pkIndex?.size ?? 0;
  }

  /** The primary-key index (mirror tables): `pkIndex.get(key)` -> `{ path, pos }` of the live row. */
  get pkIndex(): PkIndex | undefined {
    return this.index.pkIndex;
  }

  /** The index key of a row or key object (normalizing values of the identifier columns). */
  keyOf(row: RowKey, codecs?: FieldCodec[]): IndexKey {
    return this.ops.keyOf(row, codecs);
  }

  currentSnapshot(): Snapshot | undefined {
    return this.ops.currentSnapshot();
  }

  /**
   * A property of the current snapshot's summary, or undefined. A custom property (e.g. the CDC
   * writer's LSN) is the one the next floe commit carries: found through the snapshot ancestry
   * when another engine's maintenance wrote the current snapshot without it.
   */
  summaryProperty(key: string): string | undefined {
    return STANDARD_SUMMARY.test(key) ? this.currentSnapshot()?.summary[key] : this.producer.carriedSummary()[key];
  }

  /** The custom summary properties the next commit carries (see summaryProperty). */
  carriedSummary(): Record<string, string> {
    return this.producer.carriedSummary();
  }

  /** Reloads metadata from the catalog and catches the index up with other writers' commits. */
  async refresh(): Promise<void> {
    await this.ops.reload();
    await this.index.catchUp();
  }

  /**
   * Starts a write: buffer upserts / deletes / appends, then `commit()` as one snapshot. With
   * `schema` (SchemaUpdate.stage()) the schema change lands in the same commit; with `replace`
   * the snapshot holds only this write's rows.
   */
  newWrite(options: WriteOptions = {}): WriteTransaction {
    const o = this.ops.options;
    return new WriteTransaction(this.ops, this.index, this.producer, {
      ...options,
      spillBytes: options.spillBytes ?? o.spillBytes,
      spillRows: options.spillRows ?? o.spillRows,
    });
  }

  /** Deletes every row in one snapshot (summary properties optional). */
  truncate(summary: Record<string, string> = {}): Promise<CommitResult> {
    return this.ops.serialize(() =>
      this.producer.commit(
        "truncate",
        async (base, snapshotId, seq, files) => {
          const removed = await this.producer.removeAll(this.ops.currentSnapshot(), base, snapshotId, seq, files);
          const snapshotSummary: Record<string, string> = {
            ...this.producer.carriedSummary(),
            ...summary,
            operation: "delete",
            "deleted-data-files": String(removed.dataFiles),
            "deleted-records": String(removed.rows),
            "removed-delete-files": String(removed.deleteFiles),
            "removed-position-deletes": String(removed.positionDeletes),
            "total-records": "0",
            "total-files-size": "0",
            "total-data-files": "0",
            "total-delete-files": "0",
            "total-position-deletes": "0",
            "total-equality-deletes": "0",
          };
          return { manifests: removed.manifests, summary: snapshotSummary, addedRows: 0, deletedRows: Number(removed.rows) };
        },
        async () => {
          this.index.pkIndex?.clear();
        },
      ),
    );
  }

  /**
   * The live rows of the current snapshot (deletes applied), one batch per data file, with the
   * columns of `fields` (default: the current schema's) found by field id; a column a file lacks
   * reads as its initial-default, else null (scan.ts).
   */
  rows(fields?: readonly NestedField[]): AsyncGenerator<Row[]> {
    return liveRows(this.ops, fields);
  }

  /** Starts a schema change; `commit()` adds one new schema and makes it current. */
  updateSchema(): SchemaUpdate {
    return new SchemaUpdate(this.ops, () => this.refresh());
  }

  /**
   * Compacts the table in one "replace" snapshot; readers see exactly the same rows, from fewer
   * files. By default follows the maintenance policy (size-tiered bin-packing, files past the
   * delete ratio rewritten, fully deleted files dropped, v2 delete files merged per data file; see
   * maintenance-plan.ts). `deletes: true` rewrites every data file that has deletes and drops every
   * delete file; `all: true` rewrites every data file. Returns undefined when there is nothing to do.
   */
  compact(options: { all?: boolean; deletes?: boolean; policy?: Partial<MaintenancePolicy> } = {}): Promise<CompactionResult | undefined> {
    const mode = options.all ? "all" : options.deletes ? "deletes" : "policy";
    return compact(this.ops, this.index, this.producer, mode, maintenancePolicy(options.policy));
  }

  /** Merges the manifests when the current snapshot has more than `maxManifests` (default from the policy). */
  rewriteManifests(options: { maxManifests?: number } = {}): Promise<CommitResult | undefined> {
    return rewriteManifests(this.ops, this.producer, maintenancePolicy({ maxManifests: options.maxManifests }).maxManifests);
  }

  /**
   * Deletes files under the table location that nothing references and that were last modified
   * before `olderThanMs` (a timestamp; default: the policy's orphanMinAgeMs ago), e.g. files left
   * by a writer killed between writing and committing. Needs a FileIO that can list.
   */
  removeOrphanFiles(options: { olderThanMs?: number } = {}): Promise<string[]> {
    return removeOrphanFiles(this.ops, options.olderThanMs ?? Date.now() - maintenancePolicy().orphanMinAgeMs);
  }

  /**
   * Removes old snapshots from the metadata, keeping the newest `keepSnapshots` younger than
   * `maxSnapshotAgeMs` (the current one, branches and tags, and the newest snapshot carrying floe
   * state always), and deletes the files only they referenced, reading only what it removes. Data
   * and delete files are deleted at once unless `expiredFileGraceMs` (default 0, as Iceberg's
   * ExpireSnapshots) defers them (see pendingDeletes; maintenance passes the policy's 5 s).
   */
  expireSnapshots(options: { keepSnapshots?: number; maxSnapshotAgeMs?: number; expiredFileGraceMs?: number; now?: number } = {}): Promise<ExpiryResult> {
    const { keepSnapshots, maxSnapshotAgeMs, expiredFileGraceMs = 0 } = options;
    return expireSnapshots(this.ops, maintenancePolicy({ keepSnapshots, maxSnapshotAgeMs, expiredFileGraceMs }), options.now);
  }

  /** Data and delete files expiry took out of the table that wait for their grace (expiredFileGraceMs), and when the last is due. */
  get pendingDeletes(): { files: number; lastDueMs?: number } {
    return this.ops.pendingDeletes;
  }

  /** Deletes the waiting files due at `now` (Infinity: all of them); returns how many. */
  deleteDueFiles(now = Date.now()): Promise<number> {
    return this.ops.deleteDue(now);
  }

  /** The table's files and snapshots as maintenance sees them, and what a pass under `policy` would do now. */
  maintenanceStatus(policy: Partial<MaintenancePolicy> = {}, now?: number): Promise<MaintenanceStatus> {
    return maintenanceStatus(this.ops, maintenancePolicy(policy), now);
  }

  /** One maintenance pass under `policy` (defaults: maintenance-plan.ts); `orphans` adds the orphan scan. */
  maintain(policy: Partial<MaintenancePolicy> = {}, options: { orphans?: boolean; now?: number } = {}): Promise<MaintenanceReport> {
    return maintain(this.ops, this.index, this.producer, maintenancePolicy(policy), options);
  }
}
