/**
 * WriteTransaction: a table write that buffers upserts, deletes and appends (row objects or column
 * batches), spills them to data files of the transaction past a memory threshold, and commits them
 * as one snapshot through the snapshot producer. Per commit attempt it plans which existing rows
 * its keys replace (against the primary-key index as of that attempt's base) and hands them to the
 * delete-file seam (deletes.ts).
 */
import { ValidationError } from "./catalog";
import {
  batchRows,
  columnKeys,
  fileLayout,
  normalizeBatches,
  writeColumns,
  type ColumnBatch,
  type EncodedFile,
  type FileLayout,
  type NewDataFile,
  writeEncoded,
} from "./datafiles";
import { deleteFilesFor, type LocateDataFile, type PreviousDeletes, type WrittenDeleteFile } from "./deletes";
import { deleteKey, deleteTargets, snapshotFiles } from "./live-files";
import type { LiveEntry } from "./manifests";
import { readColumnsByIdOptional } from "./parquet";
import { PkIndex, type IndexKey, type RowLocation } from "./pkindex";
import { dedupe, distinctKeys, planWrite, uniqueUpserts, type Op } from "./plan";
import type { StagedSchema } from "./schema-update";
import { STANDARD_SUMMARY, type SnapshotParts, type SnapshotProducer } from "./snapshot";
import type { Schema, TableMetadata } from "./spec";
import { columnsBytes, rowsBytes } from "./spill";
import type { TableIndex } from "./table-index";
import type { CommitResult, Row, RowKey, TableOps } from "./table-ops";
import { canonicalFromPhysical, fieldCodec, toColumns, type FieldCodec } from "./values";

/** Per-transaction overrides of the table's spill thresholds (see TableOptions). */
export interface WriteOptions {
  spillBytes?: number;
  spillRows?: number;
  /**
   * A schema change (SchemaUpdate.stage()) committed with this write's snapshot, in one catalog
   * commit: the rows are written in the new schema. The commit fails if the table's schema moved
   * since the change was staged.
   */
  schema?: StagedSchema;
  /** The snapshot holds only this write's rows: every row of the table before it is removed (in the same snapshot). */
  replace?: boolean;
}

/** The rows of the table that written keys replace: a position delete for each key the index holds. */
function replaced(index: PkIndex, keys: IndexKey[]): { path: string; pos: number; key: IndexKey }[] {
  const out: { path: string; pos: number; key: IndexKey }[] = [];
  if (index.size === 0) return out;
  for (const key of keys) {
    const loc = index.get(key);
    if (loc) out.push({ ...loc, key });
  }
  return out;
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
function batchesToOps(ops: TableOps, b: Buffered): void {
  if (b.upsertBatches.length === 0) return;
  const batches = b.upsertBatches;
  b.upsertBatches = [];
  const codecs = ops.keyCodecs();
  for (const x of batches) for (const row of batchRows(x)) b.ops.push({ kind: "upsert", key: ops.keyOf(row, codecs), row });
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
  private readonly ops: TableOps;
  private readonly index: TableIndex;
  private readonly producer: SnapshotProducer;
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

  private readonly staged?: StagedSchema;
  private readonly replace: boolean;

  constructor(ops: TableOps, index: TableIndex, producer: SnapshotProducer, limits: WriteOptions = {}) {
    this.ops = ops;
    this.index = index;
    this.producer = producer;
    this.limits = { spillBytes: limits.spillBytes ?? 256 * 1024 * 1024, spillRows: limits.spillRows ?? Infinity };
    this.staged = limits.schema;
    this.replace = limits.replace ?? false;
    if (this.staged && this.staged.baseSchemaId !== ops.metadata["current-schema-id"]) {
      throw new ValidationError(
        `${ops.name}: the staged schema change was made against schema ${this.staged.baseSchemaId}, the table is at schema ${ops.metadata["current-schema-id"]}`,
      );
    }
  }

  /** The schema rows are written in: the staged one, or the table's. */
  private schema(): Schema {
    return this.staged?.schema ?? this.ops.schema();
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
    batchesToOps(this.ops, this.buf);
    const codecs = this.ops.keyCodecs();
    for (const row of rows) this.buf.ops.push({ kind: "upsert", key: this.ops.keyOf(row, codecs), row });
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
    batchesToOps(this.ops, this.buf);
    const codecs = this.ops.keyCodecs();
    for (const k of keys) this.buf.ops.push({ kind: "delete", key: this.ops.keyOf(k, codecs), keyRow: k });
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
    const t = this.ops;
    const k = t.keyOf(key);
    if (this.gone.has(k)) return null;
    const loc = this.own?.get(k);
    if (!loc) return undefined;
    const fields = this.schema().fields;
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
    if (this.ops.hasPrimaryKey) throw new ValidationError(`${this.ops.name} has identifier fields: use upsert() so the primary-key index stays right`);
    for (const r of rows) this.buf.appended.push(r);
    return this.account(rows.length, rowsBytes(rows) + rows.length * 8);
  }

  /** Like append() with the rows of a column batch. */
  appendColumns(batch: ColumnBatch): this {
    if (this.ops.hasPrimaryKey) throw new ValidationError(`${this.ops.name} has identifier fields: use upsertColumns() so the primary-key index stays right`);
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
    if (!this.ops.hasPrimaryKey) throw new ValidationError(`${what}() needs identifier fields (a primary key); ${this.ops.name} has none: use append()`);
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
    for (const fn of this.spillListeners) fn();
    this.enqueue(() => this.writeChunk(chunk));
  }

  /** Queues a chunk's write behind the earlier ones; after a failed one, nothing more is written. */
  private enqueue(write: () => Promise<void>): void {
    this.chunks++;
    this.queued++;
    this.spilling = this.spilling.then(async () => {
      try {
        if (this.spillError === undefined) await write();
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
    const t = this.ops;
    const p = this.prepare(chunk);
    // The rows live on in p's columns only: let the buffered batches go while the files are encoded.
    chunk.ops = [];
    chunk.appended = [];
    chunk.upsertBatches = [];
    chunk.appendBatches = [];
    const pk = t.hasPrimaryKey;
    if (pk) this.supersede(p.keys ?? [], p.deletedKeys);
    this.hold(await writeColumns(t, p.codecs, p.columns, p.rowCount, pk ? p.keys : undefined, this.permanent));
  }

  /** Spilled rows of these keys are replaced (upserted again) or deleted by what comes next. */
  private supersede(keys: readonly IndexKey[], deletedKeys: readonly IndexKey[]): void {
    const own = (this.own ??= new PkIndex(this.index.pkIndex?.numeric ?? false));
    const drop = (key: IndexKey) => {
      const loc = own.get(key);
      if (!loc) return;
      this.ownDeletes.push(loc);
      own.deletePosition(loc.path, loc.pos);
    };
    for (const k of keys) {
      drop(k);
      this.gone.delete(k);
    }
    for (const k of deletedKeys) {
      drop(k);
      this.gone.add(k);
    }
  }

  /** Data files written for this transaction, held until the commit (their rows live in `own`). */
  private hold(files: NewDataFile[]): void {
    for (const f of files) {
      this.spilledFiles.push(f);
      this.spilledRows += Number(f.record.record_count);
      this.own?.addFile(f.record.file_path, { keys: f.keys, partition: f.record.partition, specId: f.specId });
    }
  }

  /**
   * The layout this transaction's data files are encoded for (its schema, the table's default
   * spec, sort order and location). Files encoded elsewhere for it (the initial copy's worker
   * threads) come back through addEncoded().
   */
  fileLayout(): FileLayout {
    return fileLayout(this.ops, this.schema());
  }

  /**
   * Adds data files encoded for fileLayout() elsewhere: written to storage in order with the
   * spills (the rows buffered before them spill first), then held like spilled files: the commit
   * is one snapshot of them all, and a key they hold again replaces its earlier row, as with a
   * later upsert. Resolves once they are written (rejects with a write's or an earlier spill's error).
   */
  addEncoded(files: EncodedFile[]): Promise<void> {
    if (this.committed) throw new ValidationError("this write transaction was already committed or aborted");
    if (!isEmptyBuffer(this.buf)) this.spill();
    const t = this.ops;
    this.enqueue(async () => {
      for (const f of files) {
        if (t.hasPrimaryKey) this.supersede(f.keys, []);
        this.hold([await writeEncoded(t, f, this.permanent)]);
      }
    });
    return this.ready();
  }

  /**
   * The rows of a buffer to write as normalized columns with their keys, the keys it deletes,
   * and how to find the existing rows they replace. Upsert batches with unique keys go straight
   * through; anything else (row ops, repeated keys) goes through dedupe / planWrite.
   */
  private prepare(b: Buffered): {
    codecs: FieldCodec[];
    columns: (unknown[] | BigInt64Array)[];
    rowCount: number;
    keys?: IndexKey[];
    deletedKeys: IndexKey[];
    deletes: (index: PkIndex) => { path: string; pos: number; key: IndexKey }[];
  } {
    const t = this.ops;
    const codecs = this.schema().fields.map(fieldCodec);
    if (b.upsertBatches.length > 0) {
      const { columns, rowCount } = normalizeBatches(codecs, b.upsertBatches, true);
      const keys = columnKeys(t.keyCodecs(), codecs, columns as ArrayLike<unknown>[], rowCount);
      if (distinctKeys(keys)) {
        return { codecs, columns, rowCount, keys, deletedKeys: [], deletes: (index) => replaced(index, keys) };
      }
      batchesToOps(t, b); // repeated keys: the last one wins, as with upsert()
    }
    if (b.appendBatches.length === 0 && b.appended.length === 0 && uniqueUpserts(b.ops)) {
      // upserts of distinct keys (a big transaction of inserts): written in order, nothing to dedupe
      const rows = b.ops.map((op) => (op as { row: Row }).row);
      const keys = b.ops.map((op) => op.key);
      return {
        codecs,
        columns: toColumns(codecs, rows),
        rowCount: rows.length,
        keys: t.hasPrimaryKey ? keys : undefined,
        deletedKeys: [],
        deletes: (index) => replaced(index, keys),
      };
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
    await this.ops.deleteQuietly(this.permanent);
  }

  /**
   * Writes files and commits one snapshot; retries on conflict; deletes its files on failure.
   * A transaction with no rows, no deletes and no summary commits nothing (attempts = 0).
   */
  commit(): Promise<CommitResult> {
    if (this.committed) return Promise.reject(new ValidationError("this write transaction was already committed or aborted"));
    this.committed = true;
    if (this.chunks > 0) return this.commitSpilled();
    const t = this.ops;
    if (isEmptyBuffer(this.buf) && Object.keys(this.summary).length === 0 && !this.staged && !this.replace) {
      // Nothing to write and nothing to record: no snapshot.
      const snap = t.currentSnapshot();
      return Promise.resolve({
        snapshotId: snap ? BigInt(snap["snapshot-id"]) : 0n,
        sequenceNumber: snap?.["sequence-number"] ?? 0,
        metadataLocation: t.metadataLocation,
        attempts: 0,
        addedRows: 0,
        deletedRows: 0,
      });
    }
    return t.serialize(async () => {
      const { codecs, columns, rowCount, keys, deletes } = this.prepare(this.buf);
      const permanent: string[] = [];
      let newFiles: NewDataFile[];
      try {
        newFiles = await writeColumns(t, codecs, columns, rowCount, t.hasPrimaryKey ? keys : undefined, permanent);
      } catch (e) {
        await t.deleteQuietly(permanent);
        throw e;
      }
      let plannedDeletes: { path: string; pos: number; key: IndexKey }[] = [];
      return this.producer.commit(
        "write",
        async (base, snapshotId, seq, files) => {
          // against the index as of this attempt's base (caught up with other writers on conflict)
          const index = this.index.pkIndex;
          plannedDeletes = index && !this.replace ? deletes(index) : [];
          const deleteFiles = await this.writeDeletes(plannedDeletes, files, (p) => index?.files.get(p));
          return this.snapshotParts(base, newFiles, deleteFiles, snapshotId, seq, files, rowCount, plannedDeletes.length);
        },
        async () => {
          const idx = this.index.pkIndex;
          if (!idx) return;
          if (this.replace) idx.clear();
          for (const d of plannedDeletes) idx.deletePosition(d.path, d.pos);
          for (const f of newFiles) idx.addFile(f.record.file_path, { keys: f.keys, partition: f.record.partition, specId: f.specId });
        },
        permanent,
      );
    });
  }

  /**
   * The delete files of one attempt (the seam of deletes.ts). Deletion vectors (v3) replace the
   * targeted data files' previous vectors: those are read from the base snapshot (cached) and
   * returned as `replaced`, for the snapshot to remove.
   */
  private async writeDeletes(
    deletes: RowLocation[],
    files: string[],
    locate: LocateDataFile,
  ): Promise<{ written: WrittenDeleteFile[]; replaced: LiveEntry[] }> {
    if (deletes.length === 0) return { written: [], replaced: [] };
    const t = this.ops;
    const format = deleteFilesFor(t);
    let previous: PreviousDeletes | undefined;
    const parent = t.currentSnapshot();
    if (format.replacesPrevious && parent) {
      const touched = new Set(deletes.map((d) => d.path));
      const prev = (await snapshotFiles(t, parent)).deletes.filter((e) => e.file.referenced_data_file && touched.has(e.file.referenced_data_file));
      const targets = await deleteTargets(t, prev);
      const byData = new Map<string, { entries: LiveEntry[]; positions: number[] }>();
      for (const e of prev) {
        const path = e.file.referenced_data_file!;
        let x = byData.get(path);
        if (!x) byData.set(path, (x = { entries: [], positions: [] }));
        x.entries.push(e);
        for (const l of targets.get(deleteKey(e.file)) ?? []) if (l.path === path) x.positions.push(l.pos);
      }
      previous = (p) => byData.get(p);
    }
    return format.write(deletes, files, locate, previous);
  }

  /** Manifests and summary of a write snapshot (with the staged schema change, and the removal of every earlier row when replacing). */
  private async snapshotParts(
    base: TableMetadata,
    newFiles: NewDataFile[],
    deletes: { written: WrittenDeleteFile[]; replaced: LiveEntry[] },
    snapshotId: bigint,
    seq: bigint,
    files: string[],
    addedRows: number,
    deletedRows: number,
  ): Promise<SnapshotParts> {
    if (this.staged && (base["current-schema-id"] !== this.staged.baseSchemaId || base["last-column-id"] !== this.staged.baseLastColumnId)) {
      throw new ValidationError(`${this.ops.name}: the table's schema changed since this write's schema change was staged; stage it again`);
    }
    const deleteFiles = deletes.written;
    const schema = this.schema();
    const manifests = [
      ...(await this.producer.writeManifests(
        "data",
        newFiles.map((f) => ({ record: f.record, specId: f.specId })),
        snapshotId,
        seq,
        files,
        schema,
      )),
      ...(await this.producer.writeManifests("deletes", deleteFiles, snapshotId, seq, files, schema)),
    ];
    const totals = this.producer.summaryTotals(
      newFiles.map((f) => f.record),
      deleteFiles.map((f) => f.record),
      deletes.replaced.map((e) => e.file),
    );
    let op = newFiles.length && deleteFiles.length ? "overwrite" : deleteFiles.length ? "delete" : "append";
    if (this.replace) {
      const removed = await this.producer.removeAll(this.ops.currentSnapshot(), base, snapshotId, seq, files);
      manifests.push(...removed.manifests);
      if (removed.dataFiles > 0) op = "overwrite";
      const sum = (list: { record_count: number | bigint; file_size_in_bytes: number | bigint }[], k: "record_count" | "file_size_in_bytes") =>
        list.reduce((a, f) => a + BigInt(f[k]), 0n);
      const data = newFiles.map((f) => f.record);
      const dels = deleteFiles.map((f) => f.record);
      Object.assign(totals, {
        "deleted-data-files": String(removed.dataFiles),
        "deleted-records": String(removed.rows),
        "removed-delete-files": String(removed.deleteFiles),
        "removed-position-deletes": String(removed.positionDeletes),
        "total-records": String(sum(data, "record_count") - sum(dels, "record_count")),
        "total-files-size": String(sum([...data, ...dels], "file_size_in_bytes")),
        "total-data-files": String(data.length),
        "total-delete-files": String(dels.length),
        "total-position-deletes": String(sum(dels, "record_count")),
        "total-equality-deletes": "0",
      });
      deletedRows += Number(removed.rows);
    }
    const summary = { ...this.producer.carriedSummary(), ...this.summary, operation: op, ...totals };
    const removed = !this.replace && deletes.replaced.length ? new Set(deletes.replaced.map((e) => deleteKey(e.file))) : undefined;
    return { manifests, summary, addedRows, deletedRows, keepBaseManifests: !this.replace, removed, schema: this.staged };
  }

  /** The commit of a transaction that spilled: the rest of the buffer spills too, then one snapshot of all its files. */
  private commitSpilled(): Promise<CommitResult> {
    const t = this.ops;
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
      return this.producer.commit(
        "write",
        async (base, snapshotId, seq, files) => {
          // Keys this transaction touched that existed before it: against the index as of this
          // attempt's base (caught up with other writers on conflict), as without spilling.
          const index = this.index.pkIndex;
          plannedDeletes = [];
          if (index && index.size > 0 && own && !this.replace) {
            const probe = (key: IndexKey) => {
              const loc = index.get(key);
              if (loc) plannedDeletes.push({ ...loc, key });
            };
            for (const key of own.keys()) probe(key);
            for (const key of this.gone) probe(key);
          }
          const all = this.ownDeletes.length ? [...plannedDeletes, ...this.ownDeletes] : plannedDeletes;
          const deleteFiles = await this.writeDeletes(all, files, (p) => index?.files.get(p) ?? ownFiles.get(p));
          return this.snapshotParts(base, newFiles, deleteFiles, snapshotId, seq, files, this.spilledRows - this.ownDeletes.length, plannedDeletes.length);
        },
        async () => {
          const idx = this.index.pkIndex;
          if (!idx) return;
          if (this.replace) idx.clear();
          for (const d of plannedDeletes) idx.deletePosition(d.path, d.pos);
          // An empty table (an initial copy) takes the transaction's index of its rows as it is.
          if (own && this.index.adopt(own)) return;
          // keys of rows replaced within the transaction are already cleared (own.deletePosition)
          for (const f of newFiles) idx.addFile(f.record.file_path, { keys: f.keys, partition: f.record.partition, specId: f.specId });
        },
        this.permanent,
      );
    });
  }
}
