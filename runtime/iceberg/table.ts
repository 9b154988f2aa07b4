/**
 * The public table API: create/load tables, write transactions (upsert / delete / append with a
 * custom snapshot summary), truncate, schema evolution. See index.ts for the value conventions
 * and the primary-key index design.
 */
import { randomUUID } from "crypto";
import { createLogger, type Logger } from "../core/log";
import {
  CommitConflictError,
  CommitStateUnknownError,
  CorruptMetadataError,
  ValidationError,
  tableIdString,
  type Catalog,
  type LoadTableResult,
  type TableIdentifier,
  type TableRequirement,
  type TableUpdate,
} from "./catalog";
import type { FileIO } from "./io";
import {
  CONTENT_DATA,
  CONTENT_EQUALITY_DELETES,
  CONTENT_POSITION_DELETES,
  STATUS_ADDED,
  STATUS_DELETED,
  STATUS_EXISTING,
  readManifest,
  readManifestList,
  writeManifest,
  writeManifestList,
  type DataFileRecord,
  type LiveEntry,
  type ManifestEntryRecord,
  type ManifestFileRecord,
} from "./manifests";
import { currentSnapshot, newSnapshotId } from "./metadata";
import { icebergMetrics } from "./metrics";
import { DELETE_FILE_PATH_ID, DELETE_POS_ID, readColumnsById, readColumnsByIdOptional, readPositionDeletes, writeDataFile, writePositionDeleteFile } from "./parquet";
import { PkIndex, isNumericKey, joinKey, keyPartFromNormalized, keyPartFromPhysical, numericKey, type IndexKey } from "./pkindex";
import { dedupe, planWrite, type Op } from "./plan";
import { columnsBytes, rowsBytes } from "./spill";
import { parsePartitionExpr, parseTransform, partitionFieldName } from "./transforms";
import type { NestedField, PartitionSpec, Schema, Snapshot, SortOrder, TableMetadata } from "./spec";
import { buildSchema, canPromote, isPrimitive, maxFieldId, parsePrimitive, toIcebergType, type ColumnDef, type ColumnType, type Primitive } from "./types";
import { decimalBytes } from "./avro";
import { bigIntToMinBytes, canonicalFromPhysical, columnStats, comparator, fieldCodec, toBound, toColumns, uuidToBytes, type FieldCodec } from "./values";

/** A row: column name -> canonical JS value (see index.ts). Missing columns are null. */
export type Row = Record<string, unknown>;
/** A primary key: identifier column name -> value (a full row works too). */
export type RowKey = Record<string, unknown>;

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
}

export interface TableOptions {
  /** Commit attempts before giving up on conflicts. Defaults to 8. */
  maxCommitAttempts?: number;
  /** First retry backoff in ms (doubles each attempt, with jitter). Defaults to 25. */
  retryBaseMs?: number;
  /** Maximum rows per data file. Defaults to 1,000,000. */
  rowsPerFile?: number;
  /**
   * When a snapshot would reference more manifests than this, the small ones (same content,
   * partition spec and schema) are merged into one. Defaults to 64.
   */
  maxManifests?: number;
  /**
   * A write transaction whose buffered rows pass this many estimated bytes (JS heap) writes them
   * out as data files of the transaction right away and keeps only their keys (see
   * WriteTransaction). The commit is still one snapshot. Defaults to 256 MiB.
   */
  spillBytes?: number;
  /** Same, counted in buffered rows and deletes. Defaults to no limit (bytes decide). */
  spillRows?: number;
  logger?: Logger;
}

/** Per-transaction overrides of the table's spill thresholds (see TableOptions). */
export interface WriteOptions {
  spillBytes?: number;
  spillRows?: number;
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

/** Files read at once when rebuilding the index (bounds memory: each file is read whole). */
const READ_CONCURRENCY = 8;

/** Maps with at most `limit` calls in flight; results in input order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Snapshot summary keys written by Iceberg itself; every other key is carried forward. */
const STANDARD_SUMMARY = /^(operation|added-|deleted-|removed-|total-|changed-partition-count|replace-partitions|engine-|iceberg-version|app-id|spark\.)/;

interface NewDataFile {
  record: DataFileRecord;
  keys: IndexKey[];
  specId: number;
}

export class Table {
  readonly id: TableIdentifier;
  readonly catalog: Catalog;
  private loaded: LoadTableResult;
  private io: FileIO;
  private readonly options: Required<Omit<TableOptions, "logger">>;
  private readonly log: Logger;
  private index?: PkIndex;
  private indexSnapshotId: bigint | null = null;
  /** Serializes commits issued through this Table object. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(catalog: Catalog, id: TableIdentifier, loaded: LoadTableResult, options: TableOptions) {
    this.catalog = catalog;
    this.id = id;
    this.loaded = loaded;
    this.io = catalog.fileIO(loaded);
    this.options = {
      maxCommitAttempts: options.maxCommitAttempts ?? 8,
      retryBaseMs: options.retryBaseMs ?? 25,
      rowsPerFile: options.rowsPerFile ?? 1_000_000,
      maxManifests: options.maxManifests ?? 64,
      spillBytes: options.spillBytes ?? 256 * 1024 * 1024,
      spillRows: options.spillRows ?? Infinity,
    };
    this.log = (options.logger ?? createLogger({ component: "iceberg" })).child({ table: tableIdString(id) });
  }

  /** Creates the table (throws TableAlreadyExistsError / ValidationError). */
  static async create(catalog: Catalog, id: TableIdentifier, options: CreateTableOptions, tableOptions: TableOptions = {}): Promise<Table> {
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
        // a CDC table commits often: keep the last 100 metadata files, delete older ones
        "write.metadata.delete-after-commit.enabled": "true",
        "write.metadata.previous-versions-max": "100",
        ...(options.properties ?? {}),
      },
    });
    const t = new Table(catalog, id, loaded, tableOptions);
    if (t.hasPrimaryKey) t.index = t.newIndex();
    return t;
  }

  /** Loads the table and rebuilds its primary-key index (throws NoSuchTableError). */
  static async load(catalog: Catalog, id: TableIdentifier, tableOptions: TableOptions = {}): Promise<Table> {
    const t = new Table(catalog, id, await catalog.loadTable(id), tableOptions);
    await t.rebuildIndex();
    return t;
  }

  get metadata(): TableMetadata {
    return this.loaded.metadata;
  }

  get metadataLocation(): string {
    return this.loaded["metadata-location"];
  }

  get location(): string {
    return this.metadata.location;
  }

  /** The current schema. */
  schema(): Schema {
    const m = this.metadata;
    const s = m.schemas.find((x) => x["schema-id"] === m["current-schema-id"]);
    if (!s) throw new CorruptMetadataError(`${tableIdString(this.id)}: current schema ${m["current-schema-id"]} is missing from metadata`);
    return s;
  }

  spec(): PartitionSpec {
    const m = this.metadata;
    const s = m["partition-specs"].find((x) => x["spec-id"] === m["default-spec-id"]);
    if (!s) throw new CorruptMetadataError(`${tableIdString(this.id)}: default partition spec ${m["default-spec-id"]} is missing`);
    return s;
  }

  get hasPrimaryKey(): boolean {
    return (this.schema()["identifier-field-ids"] ?? []).length > 0;
  }

  /** Live rows known to the primary-key index (mirror tables). */
  get indexedRows(): number {
    return this.index?.size ?? 0;
  }

  currentSnapshot(): Snapshot | undefined {
    return currentSnapshot(this.metadata);
  }

  /** A property of the current snapshot's summary (e.g. the CDC writer's LSN), or undefined. */
  summaryProperty(key: string): string | undefined {
    return this.currentSnapshot()?.summary[key];
  }

  /** Reloads metadata from the catalog and catches the index up with other writers' commits. */
  async refresh(): Promise<void> {
    this.loaded = await this.catalog.loadTable(this.id);
    await this.catchUpIndex();
  }

  /** Starts a write: buffer upserts / deletes / appends, then `commit()` as one snapshot. */
  newWrite(options: WriteOptions = {}): WriteTransaction {
    return new WriteTransaction(this, { spillBytes: options.spillBytes ?? this.options.spillBytes, spillRows: options.spillRows ?? this.options.spillRows });
  }

  /** Deletes every row in one snapshot (summary properties optional). */
  truncate(summary: Record<string, string> = {}): Promise<CommitResult> {
    return this.serialize(() => this.commitLoop("truncate", async (base, snapshotId, seq, files) => {
      const parent = this.currentSnapshot();
      const manifests: ManifestFileRecord[] = [];
      let deletedRows = 0n, deletedDataFiles = 0, removedDeleteFiles = 0, removedPosDeletes = 0n;
      if (parent) {
        const entries = await this.liveEntries(parent);
        for (const content of [CONTENT_DATA, CONTENT_POSITION_DELETES, CONTENT_EQUALITY_DELETES]) {
          const bySpec = new Map<number, LiveEntry[]>();
          for (const e of entries.filter((x) => x.file.content === content)) bySpec.set(e.specId, [...(bySpec.get(e.specId) ?? []), e]);
          for (const [specId, list] of bySpec) {
            const loc = `${this.location}/metadata/${randomUUID()}-m0.avro`;
            files.push(loc);
            manifests.push(await writeManifest(this.io, {
              location: loc,
              schema: this.schema(),
              spec: base["partition-specs"].find((s) => s["spec-id"] === specId) ?? this.spec(),
              content: content === CONTENT_DATA ? "data" : "deletes",
              snapshotId,
              sequenceNumber: seq,
              entries: list.map((e) => ({ status: STATUS_DELETED, snapshot_id: snapshotId, sequence_number: e.dataSequenceNumber, file_sequence_number: e.fileSequenceNumber, data_file: e.file })),
            }, () => null));
            for (const e of list) {
              if (content === CONTENT_DATA) {
                deletedDataFiles++;
                deletedRows += BigInt(e.file.record_count);
              } else {
                removedDeleteFiles++;
                removedPosDeletes += BigInt(e.file.record_count);
              }
            }
          }
        }
      }
      const snapshotSummary: Record<string, string> = {
        ...this.carriedSummary(),
        ...summary,
        operation: "delete",
        "deleted-data-files": String(deletedDataFiles),
        "deleted-records": String(deletedRows),
        "removed-delete-files": String(removedDeleteFiles),
        "removed-position-deletes": String(removedPosDeletes),
        "total-records": "0",
        "total-files-size": "0",
        "total-data-files": "0",
        "total-delete-files": "0",
        "total-position-deletes": "0",
        "total-equality-deletes": "0",
      };
      return { manifests, summary: snapshotSummary, addedRows: 0, deletedRows: Number(deletedRows) };
    }, async () => {
      this.index?.clear();
    }));
  }

  /** Starts a schema change; `commit()` adds one new schema and makes it current. */
  updateSchema(): SchemaUpdate {
    return new SchemaUpdate(this);
  }

  // ---- internals --------------------------------------------------------------------------------

  /** Runs commits one after another through this Table object. */
  serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private keyFields(): { field: NestedField; primitive: Primitive }[] {
    const s = this.schema();
    return (s["identifier-field-ids"] ?? []).map((id) => {
      const field = s.fields.find((f) => f.id === id);
      if (!field) throw new CorruptMetadataError(`identifier field id ${id} is not in schema ${s["schema-id"]}`);
      return { field, primitive: parsePrimitive(field.type as string) };
    });
  }

  /** Whether the index keys of this table are numbers (see IndexKey). */
  private numericKeys(): boolean {
    const kf = this.keyFields();
    return kf.length === 1 && isNumericKey(kf[0].primitive);
  }

  private newIndex(): PkIndex {
    return new PkIndex(this.numericKeys());
  }

  /** The index key of a row or key object (normalizing values of the identifier columns). */
  keyOf(row: RowKey, codecs = this.keyCodecs()): IndexKey {
    if (codecs.length === 1) {
      const c = codecs[0];
      const v = row[c.field.name];
      if (v !== null && v !== undefined) {
        const n = c.normalize(v, `key column "${c.field.name}"`);
        return isNumericKey(c.primitive) ? numericKey(n) : keyPartFromNormalized(c.primitive, n);
      }
    }
    const parts: string[] = [];
    for (const c of codecs) {
      const v = row[c.field.name];
      if (v === null || v === undefined) throw new ValidationError(`key column "${c.field.name}" is missing or null in ${JSON.stringify(row, (_k, x) => (typeof x === "bigint" ? `${x}n` : x))}`);
      parts.push(keyPartFromNormalized(c.primitive, c.normalize(v, `key column "${c.field.name}"`)));
    }
    return joinKey(parts);
  }

  private keyCodecCache?: { schemaId: number; codecs: FieldCodec[] };

  /** Codecs of the identifier columns of the current schema (cached per schema id). */
  keyCodecs(): FieldCodec[] {
    const id = this.metadata["current-schema-id"];
    if (this.keyCodecCache?.schemaId !== id) this.keyCodecCache = { schemaId: id, codecs: this.keyFields().map((k) => fieldCodec(k.field)) };
    return this.keyCodecCache.codecs;
  }

  private async readKeys(path: string): Promise<IndexKey[]> {
    const kf = this.keyFields();
    const cols = await readColumnsById(await this.io.read(path), kf.map((k) => k.field.id), `data file ${path}`);
    const n = cols[0]?.length ?? 0;
    const keys = new Array<IndexKey>(n);
    if (kf.length === 1 && isNumericKey(kf[0].primitive)) {
      // physical int32 (number) or int64 (bigint), also from files written before an int -> long widening
      const col = cols[0];
      for (let i = 0; i < n; i++) keys[i] = numericKey(col[i]);
    } else if (kf.length === 1) {
      const col = cols[0];
      for (let i = 0; i < n; i++) keys[i] = keyPartFromPhysical(kf[0].primitive, col[i]);
    } else for (let i = 0; i < n; i++) keys[i] = joinKey(kf.map((k, c) => keyPartFromPhysical(k.primitive, cols[c][i])));
    return keys;
  }

  async liveEntries(snapshot: Snapshot): Promise<LiveEntry[]> {
    const manifests = await readManifestList(this.io, snapshot["manifest-list"]);
    const lists = await Promise.all(manifests.map((m) => readManifest(this.io, m)));
    return lists.flat().filter((e) => e.status !== STATUS_DELETED);
  }

  /** Rebuilds the PK index from the current snapshot: key columns of data files + position deletes. */
  private async rebuildIndex(): Promise<void> {
    if (!this.hasPrimaryKey) return;
    const index = this.newIndex();
    const snap = this.currentSnapshot();
    if (snap) {
      const entries = await this.liveEntries(snap);
      if (entries.some((e) => e.file.content === CONTENT_EQUALITY_DELETES)) {
        throw new ValidationError(`${tableIdString(this.id)} has equality delete files; the primary-key index supports position deletes only`);
      }
      const deleted = new Map<string, Set<number>>();
      await mapLimit(entries.filter((e) => e.file.content === CONTENT_POSITION_DELETES), READ_CONCURRENCY, async (e) => {
        for (const d of await readPositionDeletes(await this.io.read(e.file.file_path), `delete file ${e.file.file_path}`)) {
          let s = deleted.get(d.path);
          if (!s) deleted.set(d.path, (s = new Set()));
          s.add(d.pos);
        }
      });
      const data = entries.filter((e) => e.file.content === CONTENT_DATA).sort((a, b) => (a.dataSequenceNumber < b.dataSequenceNumber ? -1 : a.dataSequenceNumber > b.dataSequenceNumber ? 1 : 0));
      const keys = await mapLimit(data, READ_CONCURRENCY, (e) => this.readKeys(e.file.file_path));
      data.forEach((e, i) => index.addFile(e.file.file_path, { keys: keys[i], partition: e.file.partition, specId: e.specId }, deleted.get(e.file.file_path)));
    }
    this.index = index;
    this.indexSnapshotId = snap ? BigInt(snap["snapshot-id"]) : null;
    this.log.debug("primary-key index rebuilt", { rows: index.size, files: index.files.size });
  }

  /** Applies snapshots committed since the index was built (other writers' commits). */
  private async catchUpIndex(): Promise<void> {
    if (!this.hasPrimaryKey) return;
    if (!this.index) return this.rebuildIndex();
    const current = this.currentSnapshot();
    const target = current ? BigInt(current["snapshot-id"]) : null;
    if (target === this.indexSnapshotId) return;
    const chain: Snapshot[] = [];
    let s = current;
    while (s && BigInt(s["snapshot-id"]) !== this.indexSnapshotId) {
      chain.unshift(s);
      const parent = s["parent-snapshot-id"];
      s = parent === undefined || parent === null ? undefined : this.metadata.snapshots.find((x) => BigInt(x["snapshot-id"]) === BigInt(parent));
    }
    if (!s && this.indexSnapshotId !== null) return this.rebuildIndex(); // history rewritten: start over
    for (const snap of chain) {
      const sid = BigInt(snap["snapshot-id"]);
      const manifests = (await readManifestList(this.io, snap["manifest-list"])).filter((m) => BigInt(m.added_snapshot_id) === sid);
      const entries = (await Promise.all(manifests.map((m) => readManifest(this.io, m)))).flat().filter((e) => e.snapshotId === sid);
      for (const e of entries) if (e.status === STATUS_DELETED && e.file.content === CONTENT_DATA) this.index.removeFile(e.file.file_path);
      const added = entries.filter((e) => e.status === STATUS_ADDED);
      if (added.some((e) => e.file.content === CONTENT_EQUALITY_DELETES)) return this.rebuildIndex();
      for (const e of added.filter((x) => x.file.content === CONTENT_DATA)) {
        this.index.addFile(e.file.file_path, { keys: await this.readKeys(e.file.file_path), partition: e.file.partition, specId: e.specId });
      }
      for (const e of added.filter((x) => x.file.content === CONTENT_POSITION_DELETES)) {
        for (const d of await readPositionDeletes(await this.io.read(e.file.file_path), `delete file ${e.file.file_path}`)) this.index.deletePosition(d.path, d.pos);
      }
      this.indexSnapshotId = sid;
    }
    this.indexSnapshotId = target;
  }

  /** Custom summary properties of the current snapshot, carried into the next one. */
  carriedSummary(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.currentSnapshot()?.summary ?? {})) if (!STANDARD_SUMMARY.test(k)) out[k] = v;
    return out;
  }

  private parentTotals(): Record<string, bigint> {
    const s: Record<string, string> = this.currentSnapshot()?.summary ?? {};
    const get = (k: string) => BigInt(s[k] ?? "0");
    return {
      records: get("total-records"),
      size: get("total-files-size"),
      dataFiles: get("total-data-files"),
      deleteFiles: get("total-delete-files"),
      posDeletes: get("total-position-deletes"),
      eqDeletes: get("total-equality-deletes"),
    };
  }

  /**
   * The optimistic commit loop. `attempt` writes this attempt's files (recording them in
   * `files` for cleanup) and returns the new manifests and summary; on conflict the table is
   * reloaded, the index caught up, and `attempt` runs again against the new base.
   */
  async commitLoop(
    label: string,
    attempt: (base: TableMetadata, snapshotId: bigint, seq: bigint, files: string[]) => Promise<{ manifests: ManifestFileRecord[]; summary: Record<string, string>; addedRows: number; deletedRows: number; keepBaseManifests?: boolean }>,
    onSuccess: (deletedPositions?: unknown) => Promise<void>,
    permanentFiles: string[] = [],
  ): Promise<CommitResult> {
    const snapshotId = newSnapshotId();
    let lastError: Error | undefined;
    for (let n = 1; n <= this.options.maxCommitAttempts; n++) {
      const base = this.metadata;
      const parent = this.currentSnapshot();
      const parentId = parent ? BigInt(parent["snapshot-id"]) : null;
      const seq = BigInt(base["last-sequence-number"]) + 1n;
      const files: string[] = [];
      try {
        const r = await attempt(base, snapshotId, seq, files);
        let carried = r.keepBaseManifests && parent ? await readManifestList(this.io, parent["manifest-list"]) : [];
        if (carried.length + r.manifests.length > this.options.maxManifests) carried = await this.mergeManifests(carried, base, snapshotId, seq, files);
        const manifestList = `${this.location}/metadata/snap-${snapshotId}-${n}-${randomUUID()}.avro`;
        files.push(manifestList);
        await writeManifestList(this.io, manifestList, snapshotId, parentId, seq, [...r.manifests, ...carried]);
        const snapshot: Snapshot = {
          "snapshot-id": snapshotId,
          ...(parentId !== null ? { "parent-snapshot-id": parentId } : {}),
          "sequence-number": Number(seq),
          "timestamp-ms": Math.max(Date.now(), base["last-updated-ms"] + 1),
          "manifest-list": manifestList,
          summary: r.summary as Snapshot["summary"],
          "schema-id": base["current-schema-id"],
        };
        const requirements: TableRequirement[] = [
          { type: "assert-table-uuid", uuid: base["table-uuid"] },
          { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": parentId },
        ];
        const updates: TableUpdate[] = [
          { action: "add-snapshot", snapshot },
          { action: "set-snapshot-ref", "ref-name": "main", "snapshot-id": snapshotId, type: "branch" },
        ];
        const before = this.metadata["metadata-log"];
        try {
          this.loaded = await this.catalog.commitTable(this.id, requirements, updates);
          await this.deleteExpiredMetadataFiles(before);
        } catch (e) {
          if (!(e instanceof CommitStateUnknownError)) throw e;
          // Find out: did our snapshot land?
          const now = await this.catalog.loadTable(this.id);
          if (!now.metadata.snapshots.some((s) => BigInt(s["snapshot-id"]) === snapshotId)) throw new CommitConflictError(`commit state unknown, snapshot not found: ${e.message}`);
          this.loaded = now;
        }
        await onSuccess();
        this.indexSnapshotId = snapshotId;
        const tableName = tableIdString(this.id);
        icebergMetrics.commitAttempts.inc({ table: tableName, op: label, outcome: "committed" });
        if (this.index) icebergMetrics.indexRows.set({ table: tableName }, this.index.size);
        this.log.info("committed", { op: label, snapshot: snapshotId, seq, attempts: n, added: r.addedRows, deleted: r.deletedRows });
        return { snapshotId, sequenceNumber: Number(seq), metadataLocation: this.metadataLocation, attempts: n, addedRows: r.addedRows, deletedRows: r.deletedRows };
      } catch (e) {
        await Promise.all(files.map((f) => this.io.delete(f).catch(() => undefined)));
        icebergMetrics.commitAttempts.inc({ table: tableIdString(this.id), op: label, outcome: e instanceof CommitConflictError ? "conflict" : "failed" });
        if (!(e instanceof CommitConflictError)) {
          await Promise.all(permanentFiles.map((f) => this.io.delete(f).catch(() => undefined)));
          throw e;
        }
        lastError = e;
        this.log.info("commit conflict, retrying", { op: label, attempt: n, reason: e.message });
        const delay = this.options.retryBaseMs * 2 ** (n - 1) * (0.5 + Math.random());
        await new Promise((r) => setTimeout(r, Math.min(delay, 5000)));
        try {
          await this.refresh();
        } catch (re) {
          await Promise.all(permanentFiles.map((f) => this.io.delete(f).catch(() => undefined)));
          throw re;
        }
      }
    }
    await Promise.all(permanentFiles.map((f) => this.io.delete(f).catch(() => undefined)));
    throw new CommitConflictError(`${tableIdString(this.id)}: ${label} gave up after ${this.options.maxCommitAttempts} conflicting attempts: ${lastError?.message}`);
  }

  /**
   * Merges carried manifests that share content, partition spec and schema into one manifest
   * per group (live entries become EXISTING with explicit sequence numbers; DELETED entries are
   * dropped). Data and delete files are untouched; readers see exactly the same table.
   */
  private async mergeManifests(carried: ManifestFileRecord[], base: TableMetadata, snapshotId: bigint, seq: bigint, files: string[]): Promise<ManifestFileRecord[]> {
    const withEntries = await Promise.all(carried.map(async (m) => ({ m, entries: await readManifest(this.io, m) })));
    const groups = new Map<string, { m: ManifestFileRecord; entries: LiveEntry[] }[]>();
    for (const x of withEntries) {
      const key = `${x.m.content}|${x.m.partition_spec_id}|${x.entries[0]?.schemaId ?? "?"}`;
      groups.set(key, [...(groups.get(key) ?? []), x]);
    }
    const out: ManifestFileRecord[] = [];
    for (const group of groups.values()) {
      if (group.length === 1) {
        out.push(group[0].m);
        continue;
      }
      const live = group.flatMap((g) => g.entries).filter((e) => e.status !== STATUS_DELETED);
      if (live.length === 0) continue;
      const first = group[0];
      const schema = base.schemas.find((x) => x["schema-id"] === first.entries[0]?.schemaId) ?? this.schema();
      const loc = `${this.location}/metadata/${randomUUID()}-m0.avro`;
      files.push(loc);
      out.push(await writeManifest(this.io, {
        location: loc,
        schema,
        spec: base["partition-specs"].find((x) => x["spec-id"] === first.m.partition_spec_id) ?? this.spec(),
        content: first.m.content === CONTENT_DATA ? "data" : "deletes",
        snapshotId,
        sequenceNumber: seq,
        entries: live.map((e) => ({ status: STATUS_EXISTING, snapshot_id: e.snapshotId, sequence_number: e.dataSequenceNumber, file_sequence_number: e.fileSequenceNumber, data_file: e.file })),
      }, () => null));
    }
    this.log.debug("merged manifests", { before: carried.length, after: out.length });
    return out;
  }

  /**
   * Rewrites the live rows of every data file that has position deletes (all data files with
   * `all: true`) into new data files and drops every position delete file, in one "replace"
   * snapshot. Readers see exactly the same rows, from fewer files. Mirror tables fed by CDC
   * collect delete files with every update: compact when the snapshot summary's
   * total-delete-files grows. Returns undefined when there is nothing to do.
   */
  compact(options: { all?: boolean } = {}): Promise<CommitResult | undefined> {
    return this.serialize(async () => {
      if (!this.currentSnapshot()) return undefined;
      const first = await this.liveEntries(this.currentSnapshot()!);
      if (!options.all && !first.some((e) => e.file.content === CONTENT_POSITION_DELETES)) return undefined;
      let removedPaths = new Set<string>();
      let newFiles: NewDataFile[] = [];
      return this.commitLoop("compact", async (base, snapshotId, seq, files) => {
        const parent = this.currentSnapshot()!;
        const manifests = await readManifestList(this.io, parent["manifest-list"]);
        const withEntries = await Promise.all(manifests.map(async (m) => ({ m, entries: (await readManifest(this.io, m)).filter((e) => e.status !== STATUS_DELETED) })));
        const live = withEntries.flatMap((x) => x.entries);
        if (live.some((e) => e.file.content === CONTENT_EQUALITY_DELETES)) throw new ValidationError("compact: tables with equality deletes are not supported");
        const deleteFiles = live.filter((e) => e.file.content === CONTENT_POSITION_DELETES);
        const deleted = new Map<string, Set<number>>();
        for (const e of deleteFiles) {
          for (const d of await readPositionDeletes(await this.io.read(e.file.file_path), `delete file ${e.file.file_path}`)) {
            let set = deleted.get(d.path);
            if (!set) deleted.set(d.path, (set = new Set()));
            set.add(d.pos);
          }
        }
        const rewrite = live.filter((e) => e.file.content === CONTENT_DATA && (options.all || deleted.has(e.file.file_path)));
        removedPaths = new Set([...rewrite, ...deleteFiles].map((e) => e.file.file_path));
        // Read the live rows of the rewritten files in the current schema (by field id).
        const schema = this.schema();
        const rows: Row[] = [];
        for (const e of rewrite) {
          const cols = await readColumnsByIdOptional(await this.io.read(e.file.file_path), schema.fields.map((f) => f.id), `data file ${e.file.file_path}`);
          const n = Number(e.file.record_count);
          const dels = deleted.get(e.file.file_path);
          for (let i = 0; i < n; i++) {
            if (dels?.has(i)) continue;
            const row: Row = {};
            schema.fields.forEach((f, c) => (row[f.name] = cols[c] ? canonicalFromPhysical(f.type, cols[c]![i]) : null));
            rows.push(row);
          }
        }
        const keys = this.hasPrimaryKey ? rows.map((r) => this.keyOf(r)) : undefined;
        newFiles = await this.writeDataFiles(rows, keys, files);
        // New manifests: the compacted files, then every old manifest with removed files marked DELETED.
        const out = await this.writeManifests("data", newFiles.map((f) => ({ record: f.record, specId: f.specId })), snapshotId, seq, files);
        for (const { m, entries } of withEntries) {
          if (!entries.some((e) => removedPaths.has(e.file.file_path))) {
            out.push(m);
            continue;
          }
          const schemaForManifest = base.schemas.find((x) => x["schema-id"] === entries[0]?.schemaId) ?? schema;
          const loc = `${this.location}/metadata/${randomUUID()}-m0.avro`;
          files.push(loc);
          out.push(await writeManifest(this.io, {
            location: loc,
            schema: schemaForManifest,
            spec: base["partition-specs"].find((x) => x["spec-id"] === m.partition_spec_id) ?? this.spec(),
            content: m.content === CONTENT_DATA ? "data" : "deletes",
            snapshotId,
            sequenceNumber: seq,
            entries: entries.map((e) => ({
              status: removedPaths.has(e.file.file_path) ? STATUS_DELETED : STATUS_EXISTING,
              snapshot_id: removedPaths.has(e.file.file_path) ? snapshotId : e.snapshotId,
              sequence_number: e.dataSequenceNumber,
              file_sequence_number: e.fileSequenceNumber,
              data_file: e.file,
            })),
          }, () => null));
        }
        const remaining = [...live.filter((e) => !removedPaths.has(e.file.file_path)).map((e) => e.file), ...newFiles.map((f) => f.record)];
        const sum = (list: DataFileRecord[]) => list.reduce((a, f) => a + BigInt(f.record_count), 0n);
        const size = (list: DataFileRecord[]) => list.reduce((a, f) => a + BigInt(f.file_size_in_bytes), 0n);
        const rData = remaining.filter((f) => f.content === CONTENT_DATA);
        const rDel = remaining.filter((f) => f.content === CONTENT_POSITION_DELETES);
        const summary: Record<string, string> = {
          ...this.carriedSummary(),
          operation: "replace",
          "added-data-files": String(newFiles.length),
          "added-records": String(rows.length),
          "deleted-data-files": String(rewrite.length),
          "deleted-records": String(sum(rewrite.map((e) => e.file))),
          "removed-delete-files": String(deleteFiles.length),
          "removed-position-deletes": String(sum(deleteFiles.map((e) => e.file))),
          "total-records": String(sum(rData)),
          "total-files-size": String(size(remaining)),
          "total-data-files": String(rData.length),
          "total-delete-files": String(rDel.length),
          "total-position-deletes": String(sum(rDel)),
          "total-equality-deletes": "0",
        };
        return { manifests: out, summary, addedRows: rows.length, deletedRows: 0 };
      }, async () => {
        const idx = this.pkIndex;
        if (!idx) return;
        for (const p of removedPaths) idx.removeFile(p);
        for (const f of newFiles) idx.addFile(f.record.file_path, { keys: f.keys, partition: f.record.partition, specId: f.specId });
      });
    });
  }

  /**
   * Deletes files under the table location that no snapshot, metadata file or metadata log
   * references and that are older than `olderThanMs` (default: 1 day ago), e.g. files left by a
   * writer that crashed between writing and committing. Needs a FileIO with `list`.
   */
  removeOrphanFiles(options: { olderThanMs?: number } = {}): Promise<string[]> {
    return this.serialize(async () => {
      if (!this.io.list) throw new ValidationError("removeOrphanFiles: this table's FileIO cannot list files");
      const cutoff = options.olderThanMs ?? Date.now() - 24 * 3600 * 1000;
      const reachable = new Set<string>([this.metadataLocation, ...this.metadata["metadata-log"].map((e) => e["metadata-file"])]);
      for (const s of this.metadata.snapshots) {
        reachable.add(s["manifest-list"]);
        for (const mf of await readManifestList(this.io, s["manifest-list"])) {
          reachable.add(mf.manifest_path);
          for (const e of await readManifest(this.io, mf)) reachable.add(e.file.file_path);
        }
      }
      const files = await this.io.list(this.location);
      const orphans = files.filter((f) => !reachable.has(f.location) && f.modifiedMs < cutoff && !f.location.endsWith(".tmp")).map((f) => f.location);
      await this.deleteQuietly(orphans);
      this.log.info("removed orphan files", { files: orphans.length });
      return orphans;
    });
  }

  /**
   * Removes old snapshots from the table metadata (keeping the current one, every ref, and the
   * `retainLast` newest) and deletes the files only they referenced: manifest lists, manifests,
   * data and delete files. Returns what was removed.
   */
  expireSnapshots(options: { olderThanMs?: number; retainLast?: number } = {}): Promise<{ snapshots: number; files: number }> {
    return this.serialize(async () => {
      const olderThan = options.olderThanMs ?? Date.now() - 5 * 24 * 3600 * 1000;
      const retainLast = Math.max(1, options.retainLast ?? 1);
      const m = this.metadata;
      const keep = new Set<string>(Object.values(m.refs).map((r) => String(r["snapshot-id"])));
      const newest = [...m.snapshots].sort((a, b) => b["timestamp-ms"] - a["timestamp-ms"]).slice(0, retainLast);
      for (const s of newest) keep.add(String(s["snapshot-id"]));
      const expire = m.snapshots.filter((s) => !keep.has(String(s["snapshot-id"])) && s["timestamp-ms"] < olderThan);
      if (expire.length === 0) return { snapshots: 0, files: 0 };
      const retained = m.snapshots.filter((s) => !expire.includes(s));
      const reachable = new Set<string>();
      const collect = async (snaps: Snapshot[], into: Set<string>) => {
        for (const s of snaps) {
          into.add(s["manifest-list"]);
          for (const mf of await readManifestList(this.io, s["manifest-list"])) {
            into.add(mf.manifest_path);
            for (const e of await readManifest(this.io, mf)) if (e.status !== STATUS_DELETED) into.add(e.file.file_path);
          }
        }
      };
      await collect(retained, reachable);
      const candidates = new Set<string>();
      for (const s of expire) {
        candidates.add(s["manifest-list"]);
        for (const mf of await readManifestList(this.io, s["manifest-list"]).catch(() => [])) {
          candidates.add(mf.manifest_path);
          for (const e of await readManifest(this.io, mf).catch(() => [])) candidates.add(e.file.file_path);
        }
      }
      this.loaded = await this.catalog.commitTable(this.id, [{ type: "assert-table-uuid", uuid: m["table-uuid"] }, { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": (m["current-snapshot-id"] ?? null) as bigint | null }], [
        { action: "remove-snapshots", "snapshot-ids": expire.map((s) => BigInt(s["snapshot-id"])) },
      ]);
      const doomed = [...candidates].filter((f) => !reachable.has(f));
      await this.deleteQuietly(doomed);
      this.log.info("expired snapshots", { snapshots: expire.length, files: doomed.length });
      return { snapshots: expire.length, files: doomed.length };
    });
  }

  // ---- write path ---------------------------------------------------------------------------------

  /** Writes rows (already validated into columns) as data files of the default spec. */
  async writeDataFiles(rows: Row[], keys: IndexKey[] | undefined, files: string[]): Promise<NewDataFile[]> {
    if (rows.length === 0) return [];
    const codecs = this.schema().fields.map(fieldCodec);
    return this.writeColumns(codecs, toColumns(codecs, rows), rows.length, keys, files);
  }

  /**
   * Writes normalized columns (one per field of the current schema, `codecs` order) as data files.
   * A column may be a BigInt64Array (int64-valued, no nulls): everything below only indexes and
   * iterates columns, so it is handled as an array.
   */
  async writeColumns(codecs: FieldCodec[], typedColumns: (unknown[] | BigInt64Array)[], rowCount: number, keys: IndexKey[] | undefined, files: string[]): Promise<NewDataFile[]> {
    if (rowCount === 0) return [];
    const columns = typedColumns as unknown[][];
    const schema = this.schema();
    const spec = this.spec();
    // Group row indexes by partition tuple.
    const parts = spec.fields.map((pf) => {
      const c = schema.fields.findIndex((f) => f.id === pf["source-id"]);
      if (c < 0) throw new CorruptMetadataError(`partition field ${pf.name}: source column ${pf["source-id"]} is not in the current schema`);
      const source = codecs[c].primitive;
      const transform = parseTransform(pf.transform, source, `partition field ${pf.name}`);
      return { c, source, transform, result: parsePrimitive(transform.resultType(schema.fields[c].type as string)) };
    });
    // partition value of each row, per partition field
    const pvals = parts.map((p) => Array.from(columns[p.c], (v) => (v === null ? null : p.transform.apply(p.source, v))));
    const groups = new Map<string, number[]>();
    if (parts.length === 0) {
      const all = new Array<number>(rowCount);
      for (let r = 0; r < rowCount; r++) all[r] = r;
      groups.set("", all);
    }
    for (let r = 0; parts.length > 0 && r < rowCount; r++) {
      const g = parts.map((p, i) => (pvals[i][r] === null ? "\u0000" : keyPartFromNormalized(p.result, pvals[i][r]))).join("\u0001");
      let list = groups.get(g);
      if (!list) groups.set(g, (list = []));
      list.push(r);
    }
    // Sort rows by the table's default sort order (identity fields), so files get tight bounds.
    const order = this.metadata["sort-orders"].find((o) => o["order-id"] === this.metadata["default-sort-order-id"]);
    const sortCols = (order?.fields ?? [])
      .filter((f) => f.transform === "identity")
      .map((f) => ({ c: schema.fields.findIndex((x) => x.id === f["source-id"]), desc: f.direction === "desc", nullsFirst: f["null-order"] === "nulls-first" }))
      .filter((x) => x.c >= 0 && !codecs[x.c].isList);
    const sortOrderId = order && sortCols.length === order.fields.length && sortCols.length > 0 ? order["order-id"] : null;
    if (sortCols.length > 0) {
      const cmps = sortCols.map((x) => ({ ...x, cmp: comparator(codecs[x.c].primitive) }));
      for (const idxs of groups.values()) {
        idxs.sort((a, b) => {
          for (const x of cmps) {
            const va = columns[x.c][a];
            const vb = columns[x.c][b];
            if (va === vb) continue;
            if (va === null) return x.nullsFirst ? -1 : 1;
            if (vb === null) return x.nullsFirst ? 1 : -1;
            const d = x.cmp(va, vb);
            if (d !== 0) return x.desc ? -d : d;
          }
          return a - b;
        });
      }
    }
    const out: NewDataFile[] = [];
    for (const idxs of groups.values()) {
      for (let start = 0; start < idxs.length; start += this.options.rowsPerFile) {
        const chunk = idxs.slice(start, start + this.options.rowsPerFile);
        const all = chunk.length === rowCount && sortCols.length === 0;
        const cols = all ? columns : columns.map((c) => chunk.map((r) => c[r]));
        const partition: Record<string, unknown> = {};
        const dirs: string[] = [];
        spec.fields.forEach((pf, i) => {
          const p = parts[i];
          const v = pvals[i][chunk[0]];
          partition[pf.name] = v === null ? null : partitionAvroValue(p.result, v);
          dirs.push(`${encodeURIComponent(pf.name)}=${v === null ? "null" : encodeURIComponent(p.transform.toPath(p.result, v))}`);
        });
        const path = `${this.location}/data/${dirs.map((d) => d + "/").join("")}${randomUUID()}.parquet`;
        const written = writeDataFile(codecs, cols, chunk.length, { annotateTime: this.metadata.properties["floe.parquet.annotate-time"] === "true" });
        files.push(path);
        await this.io.write(path, written.bytes);
        icebergMetrics.filesWritten.inc({ table: tableIdString(this.id), content: "data" });
        const record = dataFileRecord(CONTENT_DATA, path, partition, chunk.length, written.bytes.length, codecs, cols);
        record.sort_order_id = sortOrderId;
        out.push({ record, keys: keys ? (all ? keys : chunk.map((r) => keys[r])) : [], specId: spec["spec-id"] });
      }
    }
    return out;
  }

  /**
   * Writes position delete files (one per partition directory of the targeted data files).
   * `ownFiles` are data files written by the transaction being committed (not in the index yet).
   */
  async writeDeleteFiles(deletes: { path: string; pos: number }[], files: string[], ownFiles?: Map<string, { partition: Record<string, unknown>; specId: number }>): Promise<{ record: DataFileRecord; specId: number }[]> {
    // positions per data file, then data files per (spec, directory)
    const byFile = new Map<string, number[]>();
    for (const d of deletes) {
      const list = byFile.get(d.path);
      if (list) list.push(d.pos);
      else byFile.set(d.path, [d.pos]);
    }
    const groups = new Map<string, { partition: Record<string, unknown>; specId: number; paths: string[]; dir: string }>();
    for (const path of byFile.keys()) {
      const f = this.index?.files.get(path) ?? ownFiles?.get(path);
      if (!f) throw new CorruptMetadataError(`primary-key index points at ${path}, which it does not know`);
      const dir = path.slice(0, path.lastIndexOf("/"));
      const g = `${f.specId}|${dir}`;
      let e = groups.get(g);
      if (!e) groups.set(g, (e = { partition: f.partition, specId: f.specId, paths: [], dir }));
      e.paths.push(path);
    }
    const out: { record: DataFileRecord; specId: number }[] = [];
    for (const g of groups.values()) {
      g.paths.sort();
      const sorted: { path: string; pos: number }[] = [];
      let minPos = Infinity;
      let maxPos = -Infinity;
      for (const p of g.paths) {
        const poss = byFile.get(p)!.sort((a, b) => a - b);
        if (poss[0] < minPos) minPos = poss[0];
        if (poss[poss.length - 1] > maxPos) maxPos = poss[poss.length - 1];
        for (const pos of poss) sorted.push({ path: p, pos });
      }
      const path = `${g.dir}/${randomUUID()}-deletes.parquet`;
      const written = writePositionDeleteFile(sorted, true);
      files.push(path);
      await this.io.write(path, written.bytes);
      icebergMetrics.filesWritten.inc({ table: tableIdString(this.id), content: "position-deletes" });
      const n = BigInt(sorted.length);
      const rec = emptyDataFile(CONTENT_POSITION_DELETES, path, g.partition, sorted.length, written.bytes.length);
      rec.value_counts = [{ key: DELETE_FILE_PATH_ID, value: n }, { key: DELETE_POS_ID, value: n }];
      rec.null_value_counts = [{ key: DELETE_FILE_PATH_ID, value: 0n }, { key: DELETE_POS_ID, value: 0n }];
      // Full paths (not truncated): engines match delete files to data files by these bounds.
      rec.lower_bounds = [{ key: DELETE_FILE_PATH_ID, value: Buffer.from(g.paths[0]) }, { key: DELETE_POS_ID, value: Buffer.from(toBound({ kind: "long" }, BigInt(minPos))) }];
      rec.upper_bounds = [{ key: DELETE_FILE_PATH_ID, value: Buffer.from(g.paths[g.paths.length - 1]) }, { key: DELETE_POS_ID, value: Buffer.from(toBound({ kind: "long" }, BigInt(maxPos))) }];
      out.push({ record: rec, specId: g.specId });
    }
    return out;
  }

  async writeManifests(content: "data" | "deletes", recs: { record: DataFileRecord; specId: number }[], snapshotId: bigint, seq: bigint, files: string[]): Promise<ManifestFileRecord[]> {
    const bySpec = new Map<number, DataFileRecord[]>();
    for (const r of recs) bySpec.set(r.specId, [...(bySpec.get(r.specId) ?? []), r.record]);
    const out: ManifestFileRecord[] = [];
    for (const [specId, list] of bySpec) {
      const loc = `${this.location}/metadata/${randomUUID()}-m0.avro`;
      files.push(loc);
      const entries: ManifestEntryRecord[] = list.map((f) => ({ status: STATUS_ADDED, snapshot_id: snapshotId, sequence_number: null, file_sequence_number: null, data_file: f }));
      out.push(await writeManifest(this.io, {
        location: loc,
        schema: this.schema(),
        spec: this.metadata["partition-specs"].find((s) => s["spec-id"] === specId) ?? this.spec(),
        content,
        snapshotId,
        sequenceNumber: seq,
        entries,
      }, () => null));
    }
    return out;
  }

  /** With write.metadata.delete-after-commit.enabled, deletes metadata files that fell off the log. */
  private async deleteExpiredMetadataFiles(before: { "metadata-file": string }[]): Promise<void> {
    if (!this.catalog.writesMetadataFiles || this.metadata.properties["write.metadata.delete-after-commit.enabled"] !== "true") return;
    const kept = new Set(this.metadata["metadata-log"].map((e) => e["metadata-file"]));
    kept.add(this.metadataLocation);
    await this.deleteQuietly(before.map((e) => e["metadata-file"]).filter((f) => !kept.has(f)));
  }

  /** Commits a new current schema (no snapshot); requirements pin the base schema and field ids. */
  async commitSchema(s: Schema, lastColumnId: number): Promise<void> {
    const m = this.metadata;
    this.loaded = await this.catalog.commitTable(this.id, [
      { type: "assert-table-uuid", uuid: m["table-uuid"] },
      { type: "assert-current-schema-id", "current-schema-id": m["current-schema-id"] },
      { type: "assert-last-assigned-field-id", "last-assigned-field-id": m["last-column-id"] },
    ], [
      { action: "add-schema", schema: s, "last-column-id": lastColumnId },
      { action: "set-current-schema", "schema-id": -1 },
    ]);
  }

  async deleteQuietly(files: string[]): Promise<void> {
    await Promise.all(files.map((f) => this.io.delete(f).catch(() => undefined)));
  }

  get pkIndex(): PkIndex | undefined {
    return this.index;
  }

  /**
   * Takes `index` (a committed transaction's index of its own rows) as the table's index when the
   * table's is empty: an initial copy then keeps one index of its keys, not two. False otherwise.
   */
  adoptIndex(index: PkIndex): boolean {
    if (!this.index || this.index.size > 0 || this.index.files.size > 0 || this.index.numeric !== index.numeric) return false;
    this.index = index;
    return true;
  }

  summaryTotals(addedData: DataFileRecord[], addedDeletes: DataFileRecord[]): Record<string, string> {
    const t = this.parentTotals();
    const addedRecords = addedData.reduce((a, f) => a + BigInt(f.record_count), 0n);
    const addedSize = [...addedData, ...addedDeletes].reduce((a, f) => a + BigInt(f.file_size_in_bytes), 0n);
    const posDeletes = addedDeletes.reduce((a, f) => a + BigInt(f.record_count), 0n);
    const out: Record<string, string> = {
      "added-data-files": String(addedData.length),
      "added-records": String(addedRecords),
      "added-files-size": String(addedSize),
      "total-records": String(t.records + addedRecords),
      "total-files-size": String(t.size + addedSize),
      "total-data-files": String(t.dataFiles + BigInt(addedData.length)),
      "total-delete-files": String(t.deleteFiles + BigInt(addedDeletes.length)),
      "total-position-deletes": String(t.posDeletes + posDeletes),
      "total-equality-deletes": String(t.eqDeletes),
    };
    if (addedDeletes.length > 0) {
      out["added-delete-files"] = String(addedDeletes.length);
      out["added-position-delete-files"] = String(addedDeletes.length);
      out["added-position-deletes"] = String(posDeletes);
    }
    return out;
  }
}

function emptyDataFile(content: number, path: string, partition: Record<string, unknown>, rows: number, size: number): DataFileRecord {
  return {
    content,
    file_path: path,
    file_format: "PARQUET",
    partition,
    record_count: BigInt(rows),
    file_size_in_bytes: BigInt(size),
    column_sizes: null,
    value_counts: null,
    null_value_counts: null,
    nan_value_counts: null,
    lower_bounds: null,
    upper_bounds: null,
    key_metadata: null,
    split_offsets: null,
    equality_ids: null,
    sort_order_id: null,
  };
}

/** A data_file record with Iceberg column stats computed from the normalized columns. */
export function dataFileRecord(content: number, path: string, partition: Record<string, unknown>, rows: number, size: number, codecs: FieldCodec[], columns: unknown[][]): DataFileRecord {
  const rec = emptyDataFile(content, path, partition, rows, size);
  const vc: { key: number; value: bigint }[] = [];
  const nc: { key: number; value: bigint }[] = [];
  const nan: { key: number; value: bigint }[] = [];
  const lo: { key: number; value: Buffer }[] = [];
  const hi: { key: number; value: Buffer }[] = [];
  codecs.forEach((c, i) => {
    if (c.isList) {
      let nulls = 0;
      for (const v of columns[i]) if (v === null) nulls++;
      vc.push({ key: c.field.id, value: BigInt(rows) });
      nc.push({ key: c.field.id, value: BigInt(nulls) });
      return;
    }
    const s = columnStats(c.primitive, columns[i]);
    vc.push({ key: c.field.id, value: BigInt(s.valueCount) });
    nc.push({ key: c.field.id, value: BigInt(s.nullCount) });
    if (s.nanCount !== undefined) nan.push({ key: c.field.id, value: BigInt(s.nanCount) });
    if (s.lower) lo.push({ key: c.field.id, value: Buffer.from(s.lower) });
    if (s.upper) hi.push({ key: c.field.id, value: Buffer.from(s.upper) });
  });
  rec.value_counts = vc;
  rec.null_value_counts = nc;
  rec.nan_value_counts = nan;
  rec.lower_bounds = lo;
  rec.upper_bounds = hi;
  return rec;
}

/** A normalized value as it is stored in the Avro partition tuple. */
export function partitionAvroValue(p: Primitive, v: unknown): unknown {
  switch (p.kind) {
    case "uuid":
      return Buffer.from(uuidToBytes(v as string));
    case "binary":
    case "fixed":
      return Buffer.from(v as Uint8Array);
    case "decimal": {
      const size = decimalBytes(p.precision);
      const min = bigIntToMinBytes(v as bigint);
      const out = Buffer.alloc(size, (v as bigint) < 0n ? 0xff : 0);
      Buffer.from(min).copy(out, size - min.length);
      return out;
    }
    default:
      return v;
  }
}

/**
 * Rows by column: `columns[i][r]` is the canonical value (see index.ts) of column `names[i]` in row
 * r, for r < rowCount. Columns of the table missing from `names` are null. Cheaper than row
 * objects for bulk loads (an initial copy): no object per row, normalized a column at a time.
 */
export interface ColumnBatch {
  names: string[];
  /** Plain arrays, or typed arrays (e.g. a BigInt64Array of a long column without nulls). */
  columns: ArrayLike<unknown>[];
  rowCount: number;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Normalized values of this field are int64 bigints (so a column of them fits a BigInt64Array). */
function int64Valued(c: FieldCodec): boolean {
  const k = c.primitive.kind;
  return !c.isList && (k === "long" || k === "time" || k === "timestamp" || k === "timestamptz" || (k === "decimal" && c.primitive.precision <= 18));
}

/** The rows of column batches as row objects (canonical values). */
function batchRows(batch: ColumnBatch): Row[] {
  const rows: Row[] = new Array(batch.rowCount);
  for (let r = 0; r < batch.rowCount; r++) {
    const row: Row = {};
    for (let c = 0; c < batch.names.length; c++) row[batch.names[c]] = batch.columns[c][r];
    rows[r] = row;
  }
  return rows;
}

/**
 * Normalizes column batches into one array per codec (field), validating names and nulls like
 * toColumns. With `typed`, int64-valued columns without nulls come out as BigInt64Arrays (fewer
 * live heap objects while the data files are written).
 */
function normalizeBatches(codecs: FieldCodec[], batches: ColumnBatch[], typed = false): { columns: (unknown[] | BigInt64Array)[]; rowCount: number } {
  const names = new Set(codecs.map((c) => c.field.name));
  let total = 0;
  for (const b of batches) {
    if (b.names.length !== b.columns.length) throw new ValidationError(`column batch has ${b.names.length} names and ${b.columns.length} columns`);
    for (let i = 0; i < b.names.length; i++) {
      if (!names.has(b.names[i])) {
        throw new ValidationError(`column batch has column "${b.names[i]}", which is not in the table schema (columns: ${[...names].join(", ")}); evolve the schema first`);
      }
      if (b.columns[i].length < b.rowCount) throw new ValidationError(`column batch column "${b.names[i]}" has ${b.columns[i].length} values for ${b.rowCount} rows`);
    }
    total += b.rowCount;
  }
  const columns = codecs.map((codec) => {
    const name = codec.field.name;
    const where = `column "${name}"`;
    let big: BigInt64Array | undefined = typed && int64Valued(codec) ? new BigInt64Array(total) : undefined;
    let out: unknown[] = big ? [] : new Array<unknown>(total);
    let at = 0;
    for (const b of batches) {
      const i = b.names.indexOf(name);
      const col = i < 0 ? undefined : b.columns[i];
      for (let r = 0; r < b.rowCount; r++, at++) {
        const v = col ? col[r] : null;
        let nv: unknown = null;
        if (v === null || v === undefined) {
          if (codec.field.required) throw new ValidationError(`column "${name}" is required but row ${at} has no value`);
        } else nv = codec.normalize(v, where);
        if (big) {
          if (typeof nv === "bigint" && nv >= INT64_MIN && nv <= INT64_MAX) {
            big[at] = nv;
            continue;
          }
          out = Array.from(big.subarray(0, at)); // a null (or a value the writer will reject): plain from here on
          big = undefined;
        }
        out[at] = nv;
      }
    }
    return big ?? out;
  });
  return { columns, rowCount: total };
}

/** Whether any key repeats. Single integer-like keys sort a typed array instead of hashing strings. */
function hasDuplicateKeys(keyCols: { primitive: Primitive; values: ArrayLike<unknown> }[], keys: IndexKey[]): boolean {
  const n = keys.length;
  if (keyCols.length === 1 && n > 1) {
    const { primitive, values } = keyCols[0];
    let sorted: Float64Array | BigInt64Array | undefined;
    if (primitive.kind === "int" || primitive.kind === "date") sorted = Float64Array.from(values as ArrayLike<number>).subarray(0, n).sort();
    else if (primitive.kind === "long" || primitive.kind === "time" || primitive.kind === "timestamp" || primitive.kind === "timestamptz") sorted = BigInt64Array.from(values as ArrayLike<bigint>).subarray(0, n).sort();
    if (sorted) {
      for (let i = 1; i < n; i++) if (sorted[i] === sorted[i - 1]) return true;
      return false;
    }
  }
  return new Set(keys).size !== n;
}

/** What a write transaction holds in memory (until it spills or commits). */
interface Buffered {
  ops: Op<Row>[];
  appended: Row[];
  /** Column batches to upsert; only while `ops` is empty (a row op first turns them into ops). */
  upsertBatches: ColumnBatch[];
  appendBatches: ColumnBatch[];
}

const emptyBuffer = (): Buffered => ({ ops: [], appended: [], upsertBatches: [], appendBatches: [] });

const isEmptyBuffer = (b: Buffered): boolean =>
  b.ops.length === 0 && b.appended.length === 0 && b.upsertBatches.every((x) => x.rowCount === 0) && b.appendBatches.every((x) => x.rowCount === 0);

/** Turns pending upsert batches into row ops (in order), before a row op that must follow them. */
function batchesToOps(t: Table, b: Buffered): void {
  if (b.upsertBatches.length === 0) return;
  const batches = b.upsertBatches;
  b.upsertBatches = [];
  const codecs = t.keyCodecs();
  for (const x of batches) for (const row of batchRows(x)) b.ops.push({ kind: "upsert", key: t.keyOf(row, codecs), row });
}

/**
 * A write: buffered upserts / deletes / appends, committed as one snapshot. Last op per key wins.
 *
 * Memory stays bounded: once the buffered rows pass the spill threshold (TableOptions.spillBytes /
 * spillRows, or newWrite's options) they are written out right away as data files of this
 * transaction (not yet part of any snapshot) and dropped from memory. What stays is per spilled
 * file its record and keys, and `own`, a primary-key index of the rows this transaction wrote.
 * A later op on a key already spilled turns the spilled row into a position delete against this
 * transaction's own file (same snapshot, same sequence number: the delete applies to it); keys
 * that existed before the transaction are looked up in the table's index at commit, per commit
 * attempt, exactly as without spilling. Files of a transaction that fails or is aborted are
 * deleted.
 */
export class WriteTransaction {
  private readonly table: Table;
  private buf: Buffered = emptyBuffer();
  private summary: Record<string, string> = {};
  private committed = false;
  private readonly limits: { spillBytes: number; spillRows: number };
  private bufferedBytes = 0;
  private bufferedRows = 0;
  /** Chunks handed to the spill queue so far. */
  private chunks = 0;
  /** Chunks handed over and not written yet. */
  private queued = 0;
  private spilling: Promise<void> = Promise.resolve();
  private spillError?: unknown;
  /** Data files written by spills, in order. */
  private readonly spilledFiles: NewDataFile[] = [];
  private spilledRows = 0;
  /** Live rows of the spilled files by key (primary-key tables). */
  private own?: PkIndex;
  /** Keys whose last spilled op is a delete (they may exist in the table: deleted at commit). */
  private readonly gone = new Set<IndexKey>();
  /** Rows of spilled files replaced by a later op of this transaction. */
  private readonly ownDeletes: { path: string; pos: number }[] = [];
  /** Every file the spills wrote: deleted if the transaction does not commit. */
  private readonly permanent: string[] = [];
  private readCache?: { path: string; columns: Map<number, unknown[] | undefined> };
  private readonly spillListeners: (() => void)[] = [];

  constructor(table: Table, limits: { spillBytes?: number; spillRows?: number } = {}) {
    this.table = table;
    this.limits = { spillBytes: limits.spillBytes ?? 256 * 1024 * 1024, spillRows: limits.spillRows ?? Infinity };
  }

  /** Whether some of this transaction's rows were written out to data files already. */
  get spilled(): boolean {
    return this.chunks > 0;
  }

  /** Spill chunks handed over and not written yet (a producer may wait for ready() above 1). */
  get pendingSpills(): number {
    return this.queued;
  }

  /**
   * Calls `fn` whenever the buffered rows are handed to the spill queue (synchronously, inside
   * the call that passed the threshold): a cache of buffered rows can drop them then, since
   * spilledVersion() answers for them from there on.
   */
  onSpill(fn: () => void): void {
    this.spillListeners.push(fn);
  }

  /** Resolves once every spill handed over so far is written (rejects with a spill's error). */
  async ready(): Promise<void> {
    await this.spilling;
    if (this.spillError !== undefined) throw this.spillError;
  }

  /** Inserts or replaces rows by primary key (tables with identifier fields). Last op per key wins. */
  upsert(rows: Row[]): this {
    this.requirePk("upsert");
    batchesToOps(this.table, this.buf);
    const codecs = this.table.keyCodecs();
    for (const row of rows) this.buf.ops.push({ kind: "upsert", key: this.table.keyOf(row, codecs), row });
    return this.account(rows.length, rowsBytes(rows) + rows.length * 48);
  }

  /**
   * Like upsert() with the rows of a column batch (same semantics, also for repeated keys); a
   * transaction holding only column batches skips the per-row operation bookkeeping.
   */
  upsertColumns(batch: ColumnBatch): this {
    this.requirePk("upsertColumns");
    if (this.buf.ops.length > 0) return this.upsert(batchRows(batch));
    this.buf.upsertBatches.push(batch);
    return this.account(batch.rowCount, columnsBytes(batch.columns, batch.rowCount));
  }

  /** Deletes rows by primary key; unknown keys are ignored. */
  delete(keys: RowKey[]): this {
    this.requirePk("delete");
    batchesToOps(this.table, this.buf);
    const codecs = this.table.keyCodecs();
    for (const k of keys) this.buf.ops.push({ kind: "delete", key: this.table.keyOf(k, codecs), keyRow: k });
    return this.account(keys.length, rowsBytes(keys) + keys.length * 48);
  }

  /**
   * Every pending upsert (row, false) and delete (key object, true) still buffered in memory, in
   * the order they were added; appended rows and rows already spilled (see spilledVersion) are
   * not listed.
   */
  forEachPending(fn: (row: Row, deleted: boolean) => void): void {
    for (const op of this.buf.ops) {
      if (op.kind === "upsert") fn(op.row, false);
      else fn((op.keyRow ?? {}) as Row, true);
    }
    for (const b of this.buf.upsertBatches) for (const row of batchRows(b)) fn(row, false);
  }

  /**
   * The version of a key's row written by this transaction's spills: the row, null when the last
   * spilled op on it was a delete, undefined when no spilled op touched it. Rows still buffered
   * (forEachPending) are newer.
   */
  async spilledVersion(key: RowKey): Promise<Row | null | undefined> {
    if (this.chunks === 0) return undefined;
    await this.ready();
    const t = this.table;
    const k = t.keyOf(key);
    if (this.gone.has(k)) return null;
    const loc = this.own?.get(k);
    if (!loc) return undefined;
    const fields = t.schema().fields;
    if (this.readCache?.path !== loc.path) {
      const io = t.catalog.fileIO({ "metadata-location": t.metadataLocation, metadata: t.metadata });
      const ids = fields.map((f) => f.id);
      const read = await readColumnsByIdOptional(await io.read(loc.path), ids, `data file ${loc.path}`);
      this.readCache = { path: loc.path, columns: new Map(ids.map((id, i) => [id, read[i]])) };
    }
    const row: Row = {};
    for (const f of fields) {
      const col = this.readCache.columns.get(f.id);
      row[f.name] = col ? canonicalFromPhysical(f.type, col[loc.pos]) : null;
    }
    return row;
  }

  /** Appends rows without key lookup (tables without identifier fields, e.g. changelog tables). */
  append(rows: Row[]): this {
    if (this.table.hasPrimaryKey) throw new ValidationError(`${tableIdString(this.table.id)} has identifier fields: use upsert() so the primary-key index stays right`);
    for (const r of rows) this.buf.appended.push(r);
    return this.account(rows.length, rowsBytes(rows) + rows.length * 8);
  }

  /** Like append() with the rows of a column batch. */
  appendColumns(batch: ColumnBatch): this {
    if (this.table.hasPrimaryKey) throw new ValidationError(`${tableIdString(this.table.id)} has identifier fields: use upsertColumns() so the primary-key index stays right`);
    this.buf.appendBatches.push(batch);
    return this.account(batch.rowCount, columnsBytes(batch.columns, batch.rowCount));
  }

  /** Adds custom snapshot summary properties (e.g. "floe.lsn.shard-0"); they are carried into later snapshots until overwritten. */
  setSummary(props: Record<string, string>): this {
    for (const [k, v] of Object.entries(props)) {
      if (STANDARD_SUMMARY.test(k)) throw new ValidationError(`summary property "${k}" is reserved by Iceberg`);
      if (typeof v !== "string") throw new ValidationError(`summary property "${k}" must be a string`);
    }
    this.summary = { ...this.summary, ...props };
    return this;
  }

  private requirePk(what: string): void {
    if (!this.table.hasPrimaryKey) throw new ValidationError(`${what}() needs identifier fields (a primary key); ${tableIdString(this.table.id)} has none: use append()`);
  }

  /** Counts buffered rows and bytes; past a threshold the buffer goes to the spill queue. */
  private account(rows: number, bytes: number): this {
    if (this.committed) throw new ValidationError("this write transaction was already committed or aborted");
    this.bufferedRows += rows;
    this.bufferedBytes += bytes;
    if (this.bufferedBytes >= this.limits.spillBytes || this.bufferedRows >= this.limits.spillRows) this.spill();
    return this;
  }

  /** Hands the buffer to the spill queue (written in order, one chunk at a time). */
  private spill(): void {
    const chunk = this.take();
    this.chunks++;
    this.queued++;
    for (const fn of this.spillListeners) fn();
    this.spilling = this.spilling.then(async () => {
      try {
        if (this.spillError === undefined) await this.writeChunk(chunk);
      } catch (e) {
        this.spillError = e;
      } finally {
        this.queued--;
      }
    });
  }

  private take(): Buffered {
    const chunk = this.buf;
    this.buf = emptyBuffer();
    this.bufferedRows = 0;
    this.bufferedBytes = 0;
    return chunk;
  }

  /** Writes one chunk as data files of this transaction; earlier spilled rows of its keys get position deletes. */
  private async writeChunk(chunk: Buffered): Promise<void> {
    const t = this.table;
    const p = this.prepare(chunk);
    // The rows live on in p's columns only: let the buffered batches go while the files are encoded.
    chunk.ops = [];
    chunk.appended = [];
    chunk.upsertBatches = [];
    chunk.appendBatches = [];
    const pk = t.hasPrimaryKey;
    let own: PkIndex | undefined;
    if (pk) {
      own = this.own ??= new PkIndex(t.pkIndex?.numeric ?? false);
      const supersede = (key: IndexKey) => {
        const loc = own!.get(key);
        if (!loc) return;
        this.ownDeletes.push(loc);
        own!.deletePosition(loc.path, loc.pos);
      };
      for (const k of p.keys ?? []) {
        supersede(k);
        this.gone.delete(k);
      }
      for (const k of p.deletedKeys) {
        supersede(k);
        this.gone.add(k);
      }
    }
    const files = await t.writeColumns(p.codecs, p.columns, p.rowCount, pk ? p.keys : undefined, this.permanent);
    for (const f of files) {
      this.spilledFiles.push(f);
      this.spilledRows += Number(f.record.record_count);
      own?.addFile(f.record.file_path, { keys: f.keys, partition: f.record.partition, specId: f.specId });
    }
  }

  /**
   * The rows of a buffer to write as normalized columns with their keys, the keys it deletes,
   * and how to find the existing rows they replace. Upsert batches with unique keys go straight
   * through; anything else (row ops, repeated keys) goes through dedupe / planWrite.
   */
  private prepare(b: Buffered): { codecs: FieldCodec[]; columns: (unknown[] | BigInt64Array)[]; rowCount: number; keys?: IndexKey[]; deletedKeys: IndexKey[]; deletes: (index: PkIndex) => { path: string; pos: number; key: IndexKey }[] } {
    const t = this.table;
    const codecs = t.schema().fields.map(fieldCodec);
    if (b.upsertBatches.length > 0) {
      const { columns, rowCount } = normalizeBatches(codecs, b.upsertBatches, true);
      const keyCodecs = t.keyCodecs();
      const keyCols = keyCodecs.map((k) => ({ primitive: k.primitive, values: columns[codecs.findIndex((c) => c.field.id === k.field.id)] as ArrayLike<unknown> }));
      const keys = new Array<IndexKey>(rowCount);
      if (keyCols.length === 1 && isNumericKey(keyCols[0].primitive)) for (let r = 0; r < rowCount; r++) keys[r] = numericKey(keyCols[0].values[r]);
      else if (keyCols.length === 1) for (let r = 0; r < rowCount; r++) keys[r] = keyPartFromNormalized(keyCols[0].primitive, keyCols[0].values[r]);
      else for (let r = 0; r < rowCount; r++) keys[r] = joinKey(keyCols.map((k) => keyPartFromNormalized(k.primitive, k.values[r])));
      if (!hasDuplicateKeys(keyCols, keys)) {
        return {
          codecs,
          columns,
          rowCount,
          keys,
          deletedKeys: [],
          deletes: (index) => {
            const out: { path: string; pos: number; key: IndexKey }[] = [];
            if (index.size === 0) return out;
            for (const key of keys) {
              const loc = index.get(key);
              if (loc) out.push({ ...loc, key });
            }
            return out;
          },
        };
      }
      batchesToOps(t, b); // repeated keys: the last one wins, as with upsert()
    }
    const final = dedupe(b.ops);
    const upserts = planWrite(final, () => undefined); // rows to write; deletes are planned per attempt
    const deletedKeys: IndexKey[] = [];
    for (const [key, op] of final) if (op.kind === "delete") deletedKeys.push(key);
    const appended = b.appendBatches.length ? normalizeBatches(codecs, b.appendBatches) : undefined;
    const rows: Row[] = [...b.appended, ...upserts.rows];
    let columns = toColumns(codecs, rows);
    if (appended) columns = columns.map((c, i) => c.concat(appended.columns[i]));
    return {
      codecs,
      columns,
      rowCount: rows.length + (appended?.rowCount ?? 0),
      keys: t.hasPrimaryKey ? upserts.keys : undefined,
      deletedKeys,
      deletes: (index) => planWrite(final, (k) => index.get(k)).deletes,
    };
  }

  /** Drops the transaction: nothing is committed and every file its spills wrote is deleted. */
  async abort(): Promise<void> {
    this.committed = true;
    this.buf = emptyBuffer();
    await this.spilling;
    await this.table.deleteQuietly(this.permanent);
  }

  /**
   * Writes files and commits one snapshot; retries on conflict; deletes its files on failure.
   * A transaction with no rows, no deletes and no summary commits nothing (attempts = 0).
   */
  commit(): Promise<CommitResult> {
    if (this.committed) return Promise.reject(new ValidationError("this write transaction was already committed or aborted"));
    this.committed = true;
    if (this.chunks > 0) return this.commitSpilled();
    const t = this.table;
    if (isEmptyBuffer(this.buf) && Object.keys(this.summary).length === 0) {
      // Nothing to write and nothing to record: no snapshot.
      const snap = t.currentSnapshot();
      return Promise.resolve({ snapshotId: snap ? BigInt(snap["snapshot-id"]) : 0n, sequenceNumber: snap?.["sequence-number"] ?? 0, metadataLocation: t.metadataLocation, attempts: 0, addedRows: 0, deletedRows: 0 });
    }
    return t.serialize(async () => {
      const { codecs, columns, rowCount, keys, deletes } = this.prepare(this.buf);
      const permanent: string[] = [];
      let newFiles: NewDataFile[];
      try {
        newFiles = await t.writeColumns(codecs, columns, rowCount, t.hasPrimaryKey ? keys : undefined, permanent);
      } catch (e) {
        await t.deleteQuietly(permanent);
        throw e;
      }
      let plannedDeletes: { path: string; pos: number; key: IndexKey }[] = [];
      return t.commitLoop("write", async (_base, snapshotId, seq, files) => {
        // against the index as of this attempt's base (caught up with other writers on conflict)
        const index = t.pkIndex;
        plannedDeletes = index ? deletes(index) : [];
        const deleteFiles = plannedDeletes.length ? await t.writeDeleteFiles(plannedDeletes, files) : [];
        return this.snapshotParts(newFiles, deleteFiles, snapshotId, seq, files, rowCount, plannedDeletes.length);
      }, async () => {
        const idx = t.pkIndex;
        if (!idx) return;
        for (const d of plannedDeletes) idx.deletePosition(d.path, d.pos);
        for (const f of newFiles) idx.addFile(f.record.file_path, { keys: f.keys, partition: f.record.partition, specId: f.specId });
      }, permanent);
    });
  }

  /** Manifests and summary of a write snapshot. */
  private async snapshotParts(newFiles: NewDataFile[], deleteFiles: { record: DataFileRecord; specId: number }[], snapshotId: bigint, seq: bigint, files: string[], addedRows: number, deletedRows: number) {
    const t = this.table;
    const manifests = [
      ...(await t.writeManifests("data", newFiles.map((f) => ({ record: f.record, specId: f.specId })), snapshotId, seq, files)),
      ...(await t.writeManifests("deletes", deleteFiles, snapshotId, seq, files)),
    ];
    const op = newFiles.length && deleteFiles.length ? "overwrite" : deleteFiles.length ? "delete" : "append";
    const summary = {
      ...t.carriedSummary(),
      ...this.summary,
      operation: op,
      ...t.summaryTotals(newFiles.map((f) => f.record), deleteFiles.map((f) => f.record)),
    };
    return { manifests, summary, addedRows, deletedRows, keepBaseManifests: true };
  }

  /** The commit of a transaction that spilled: the rest of the buffer spills too, then one snapshot of all its files. */
  private commitSpilled(): Promise<CommitResult> {
    const t = this.table;
    return t.serialize(async () => {
      try {
        await this.ready();
        if (!isEmptyBuffer(this.buf)) await this.writeChunk(this.take());
      } catch (e) {
        await t.deleteQuietly(this.permanent);
        throw e;
      }
      const newFiles = this.spilledFiles;
      const ownFiles = new Map(newFiles.map((f) => [f.record.file_path, { partition: f.record.partition, specId: f.specId }]));
      const own = this.own;
      let plannedDeletes: { path: string; pos: number; key: IndexKey }[] = [];
      return t.commitLoop("write", async (_base, snapshotId, seq, files) => {
        // Keys this transaction touched that existed before it: against the index as of this
        // attempt's base (caught up with other writers on conflict), as without spilling.
        const index = t.pkIndex;
        plannedDeletes = [];
        if (index && index.size > 0 && own) {
          const probe = (key: IndexKey) => {
            const loc = index.get(key);
            if (loc) plannedDeletes.push({ ...loc, key });
          };
          for (const key of own.keys()) probe(key);
          for (const key of this.gone) probe(key);
        }
        const all = this.ownDeletes.length ? [...plannedDeletes, ...this.ownDeletes] : plannedDeletes;
        const deleteFiles = all.length ? await t.writeDeleteFiles(all, files, ownFiles) : [];
        return this.snapshotParts(newFiles, deleteFiles, snapshotId, seq, files, this.spilledRows - this.ownDeletes.length, plannedDeletes.length);
      }, async () => {
        const idx = t.pkIndex;
        if (!idx) return;
        for (const d of plannedDeletes) idx.deletePosition(d.path, d.pos);
        // An empty table (an initial copy) takes the transaction's index of its rows as it is.
        if (own && t.adoptIndex(own)) return;
        // keys of rows replaced within the transaction are already cleared (own.deletePosition)
        for (const f of newFiles) idx.addFile(f.record.file_path, { keys: f.keys, partition: f.record.partition, specId: f.specId });
      }, this.permanent);
    });
  }
}

export class SchemaUpdate {
  private readonly table: Table;
  private readonly changes: ((s: Schema, nextId: () => number) => void)[] = [];

  constructor(table: Table) {
    this.table = table;
  }

  /** Adds an optional column (new field id; existing rows read it as null). */
  addColumn(name: string, type: ColumnType, options: { required?: false; doc?: string } = {}): this {
    if (options.required) throw new ValidationError(`column "${name}": a new column must be optional (existing rows have no value)`);
    this.changes.push((s, nextId) => {
      if (s.fields.some((f) => f.name === name)) throw new ValidationError(`cannot add column "${name}": it already exists`);
      const id = nextId();
      let t = toIcebergType(type, `column "${name}"`, 0);
      if (typeof t.type !== "string") t = toIcebergType(type, `column "${name}"`, nextId());
      s.fields.push({ id, name, required: false, type: t.type, ...(options.doc ? { doc: options.doc } : {}) });
    });
    return this;
  }

  dropColumn(name: string): this {
    this.changes.push((s) => {
      const f = this.find(s, name);
      if ((s["identifier-field-ids"] ?? []).includes(f.id)) throw new ValidationError(`cannot drop column "${name}": it is part of the primary key`);
      const spec = this.table.spec();
      if (spec.fields.some((p) => p["source-id"] === f.id)) throw new ValidationError(`cannot drop column "${name}": the table is partitioned by it`);
      s.fields = s.fields.filter((x) => x.id !== f.id);
    });
    return this;
  }

  renameColumn(from: string, to: string): this {
    this.changes.push((s) => {
      const f = this.find(s, from);
      if (s.fields.some((x) => x.name === to)) throw new ValidationError(`cannot rename "${from}" to "${to}": "${to}" already exists`);
      f.name = to;
    });
    return this;
  }

  /** Widen: int->long, float->double, decimal(p,s)->decimal(P,s) with P >= p. */
  updateColumnType(name: string, type: string): this {
    this.changes.push((s) => {
      const f = this.find(s, name);
      if (!isPrimitive(f.type)) throw new ValidationError(`cannot change the type of list column "${name}"`);
      const target = parsePrimitive(type, `column "${name}"`);
      const targetName = target.kind === "decimal" ? `decimal(${target.precision}, ${target.scale})` : type;
      if (!canPromote(f.type, targetName)) throw new ValidationError(`cannot change column "${name}" from ${f.type} to ${type}: Iceberg allows int->long, float->double and decimal precision increases only`);
      f.type = targetName;
    });
    return this;
  }

  private find(s: Schema, name: string): NestedField {
    const f = s.fields.find((x) => x.name === name);
    if (!f) throw new ValidationError(`column "${name}" does not exist; columns are ${s.fields.map((x) => x.name).join(", ")}`);
    return f;
  }

  /** Commits the new schema (retrying on conflicts by re-applying the changes to the latest schema). */
  async commit(): Promise<Schema> {
    const t = this.table;
    return t.serialize(async () => {
      for (let n = 1; ; n++) {
        const m = t.metadata;
        const s: Schema = structuredClone(t.schema());
        let last = Math.max(m["last-column-id"], maxFieldId(s));
        for (const c of this.changes) c(s, () => ++last);
        try {
          await t.commitSchema(s, last);
          return t.schema();
        } catch (e) {
          if (!(e instanceof CommitConflictError) || n >= 8) throw e;
          await new Promise((r) => setTimeout(r, 20 * 2 ** n * Math.random()));
          await t.refresh();
        }
      }
    });
  }
}
