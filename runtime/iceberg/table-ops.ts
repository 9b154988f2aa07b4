/**
 * The state one Table object shares with its write transactions, snapshot producer, index and
 * maintenance (the role of Java Iceberg's TableOperations): the catalog and identifier, the
 * current metadata as last loaded or committed, the FileIO, the resolved options, the logger, the
 * queue that serializes commits, and the lookups every part needs (schema, spec, snapshot,
 * primary-key fields and the index key of a row). Nothing here writes files or commits.
 *
 * Also the shared shapes of the table API: Row, RowKey, TableOptions, CommitResult.
 */
import { createLogger, type Logger } from "../core/log";
import { CorruptMetadataError, ValidationError, tableIdString, type Catalog, type LoadTableResult, type TableIdentifier } from "./catalog";
import type { FileIO } from "./io";
import { STATUS_DELETED, readManifest, readManifestList, type LiveEntry } from "./manifests";
import { currentSnapshot } from "./metadata";
import { isNumericKey, joinKey, keyPartFromNormalized, numericKey, type IndexKey } from "./pkindex";
import type { NestedField, PartitionSpec, Schema, Snapshot, TableMetadata } from "./spec";
import { parsePrimitive, type Primitive } from "./types";
import { fieldCodec, type FieldCodec } from "./values";

/** A row: column name -> canonical JS value (see index.ts). Missing columns are null. */
export type Row = Record<string, unknown>;
/** A primary key: identifier column name -> value (a full row works too). */
export type RowKey = Record<string, unknown>;

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
  /**
   * Stops waiting on a commit whose outcome is unknown (its files are kept, see
   * SnapshotProducer): the owner is shutting down. Defaults to waiting as long as it takes.
   */
  signal?: AbortSignal;
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

/** Maps with at most `limit` calls in flight; results in input order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
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

export class TableOps {
  readonly id: TableIdentifier;
  readonly catalog: Catalog;
  /** The table as last loaded or committed through this object. */
  loaded: LoadTableResult;
  readonly io: FileIO;
  readonly options: Required<Omit<TableOptions, "logger" | "signal">>;
  readonly log: Logger;
  /** Aborted when the owner stops (TableOptions.signal). */
  readonly signal?: AbortSignal;
  /** Serializes commits issued through this Table object. */
  private queue: Promise<unknown> = Promise.resolve();
  private keyCodecCache?: { schemaId: number; codecs: FieldCodec[] };

  constructor(catalog: Catalog, id: TableIdentifier, loaded: LoadTableResult, options: TableOptions) {
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
    this.signal = options.signal;
  }

  /** "namespace.name", for logs, metrics and errors. */
  get name(): string {
    return tableIdString(this.id);
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

  /** 2, or 3 (deletion vectors, row lineage): fixed when the table was created. */
  get formatVersion(): number {
    return this.metadata["format-version"];
  }

  /** Reloads the metadata from the catalog. */
  async reload(): Promise<void> {
    this.loaded = await this.catalog.loadTable(this.id);
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

  currentSnapshot(): Snapshot | undefined {
    return currentSnapshot(this.metadata);
  }

  get hasPrimaryKey(): boolean {
    return (this.schema()["identifier-field-ids"] ?? []).length > 0;
  }

  /** Runs commits one after another through this Table object. */
  serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * After a commit: with write.metadata.delete-after-commit.enabled, deletes the metadata files that
   * fell off the metadata log (`before` is the log of the base). REST catalogs own theirs.
   */
  async deleteDroppedMetadataFiles(before: { "metadata-file": string }[]): Promise<void> {
    if (!this.catalog.writesMetadataFiles || this.metadata.properties["write.metadata.delete-after-commit.enabled"] !== "true") return;
    const kept = new Set(this.metadata["metadata-log"].map((e) => e["metadata-file"]));
    kept.add(this.metadataLocation);
    await this.deleteQuietly(before.map((e) => e["metadata-file"]).filter((f) => !kept.has(f)));
  }

  async deleteQuietly(files: string[]): Promise<void> {
    await Promise.all(files.map((f) => this.io.delete(f).catch(() => undefined)));
  }

  /**
   * Files no snapshot references any more that a query planned earlier may still read (expire.ts):
   * deleted by deleteDue once `dueMs` has passed. Held in memory only: files of a process that
   * ends first are left to orphan removal.
   */
  private readonly deferred: { dueMs: number; files: string[] }[] = [];

  deleteLater(files: string[], dueMs: number): void {
    if (files.length > 0) this.deferred.push({ dueMs, files });
  }

  /** Files waiting for deleteDue, and when the last of them is due (undefined: none). */
  get pendingDeletes(): { files: number; lastDueMs?: number } {
    return {
      files: this.deferred.reduce((a, d) => a + d.files.length, 0),
      lastDueMs: this.deferred.length ? Math.max(...this.deferred.map((d) => d.dueMs)) : undefined,
    };
  }

  /** Deletes the deferred files due at `now` (all of them with Infinity); returns how many. */
  async deleteDue(now: number): Promise<number> {
    const due = this.deferred.filter((d) => d.dueMs <= now);
    if (due.length === 0) return 0;
    this.deferred.splice(0, this.deferred.length, ...this.deferred.filter((d) => d.dueMs > now));
    const files = due.flatMap((d) => d.files);
    await this.deleteQuietly(files);
    return files.length;
  }

  /** Manifest entries of a snapshot that are not DELETED (data and delete files). */
  async liveEntries(snapshot: Snapshot): Promise<LiveEntry[]> {
    const manifests = await readManifestList(this.io, snapshot["manifest-list"]);
    const lists = await Promise.all(manifests.map((m) => readManifest(this.io, m)));
    return lists.flat().filter((e) => e.status !== STATUS_DELETED);
  }

  // ---- primary key -------------------------------------------------------------------------------

  keyFields(): { field: NestedField; primitive: Primitive }[] {
    const s = this.schema();
    return (s["identifier-field-ids"] ?? []).map((id) => {
      const field = s.fields.find((f) => f.id === id);
      if (!field) throw new CorruptMetadataError(`identifier field id ${id} is not in schema ${s["schema-id"]}`);
      return { field, primitive: parsePrimitive(field.type as string) };
    });
  }

  /** Whether the index keys of this table are numbers (see IndexKey). */
  numericKeys(): boolean {
    const kf = this.keyFields();
    return kf.length === 1 && isNumericKey(kf[0].primitive);
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
      if (v === null || v === undefined)
        throw new ValidationError(
          `key column "${c.field.name}" is missing or null in ${JSON.stringify(row, (_k, x) => (typeof x === "bigint" ? `${x}n` : x))}`,
        );
      parts.push(keyPartFromNormalized(c.primitive, c.normalize(v, `key column "${c.field.name}"`)));
    }
    return joinKey(parts);
  }

  /** Codecs of the identifier columns of the current schema (cached per schema id). */
  keyCodecs(): FieldCodec[] {
    const id = this.metadata["current-schema-id"];
    if (this.keyCodecCache?.schemaId !== id) this.keyCodecCache = { schemaId: id, codecs: this.keyFields().map((k) => fieldCodec(k.field)) };
    return this.keyCodecCache.codecs;
  }
}
