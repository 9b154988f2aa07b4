/**
 * runtime/iceberg — an Iceberg v2 table writer (Parquet data files with field ids, position
 * deletes located through a primary-key index, Avro manifests, optimistic commits through a
 * Catalog).
 *
 * ## Quick use
 *
 * ```ts
 * const catalog = await SqlCatalog.connect({ name: "floe", url: pgUrl, warehouse: "file:///var/lake" });
 * const table = await Table.create(catalog, { namespace: ["db"], name: "orders" }, {
 *   columns: [
 *     { name: "id", type: "long", required: true },
 *     { name: "amount", type: "decimal(12,2)" },
 *     { name: "at", type: "timestamptz" },
 *     { name: "tags", type: { list: "string" } },
 *   ],
 *   identifier: ["id"],                 // = the Postgres primary key (required columns)
 *   partitionBy: ["day(at)"],           // optional: col, bucket(N, col), truncate(W, col), year/month/day/hour(col)
 * });
 * const tx = table.newWrite();
 * tx.upsert([{ id: 1n, amount: "12.30", at: 1700000000000000n, tags: ["a"] }]);
 * tx.delete([{ id: 2n }]);
 * tx.setSummary({ "floe.lsn.shard-0": "0/16B3748" });
 * await tx.commit();                    // one snapshot, all or nothing, retried on conflict
 * table.summaryProperty("floe.lsn.shard-0"); // "0/16B3748" (also after Table.load)
 * ```
 *
 * ## Public API (short)
 *
 * - `Table.create(catalog, id, { columns, identifier?, partitionBy?, sortBy?, properties?, location? }, options?)`
 *   and `Table.load(catalog, id, options?)` (rebuilds the PK index). Options: `maxCommitAttempts`
 *   (8), `retryBaseMs` (25), `rowsPerFile` (1,000,000), `maxManifests` (64), `logger`.
 * - `table.newWrite()` -> `WriteTransaction`: `upsert(rows)`, `delete(keys)` (mirror tables),
 *   `append(rows)` (tables without identifier fields), `setSummary(props)`, `commit()` ->
 *   `CommitResult { snapshotId, sequenceNumber, metadataLocation, attempts, addedRows, deletedRows }`.
 *   Last op per key wins inside a transaction; one transaction = one snapshot (overwrite /
 *   append / delete); conflicts are retried against the new base with the index caught up.
 *   A transaction with nothing in it commits nothing.
 * - `table.truncate(summary?)`: one "delete" snapshot that removes every file.
 * - `table.updateSchema().addColumn(name, type).dropColumn(name).renameColumn(a, b)
 *   .updateColumnType(name, "long" | "double" | "decimal(P,s)").commit()`.
 * - `table.compact({ all? })`: rewrites data files that have position deletes (or all) and drops
 *   the delete files, in one "replace" snapshot; same rows, fewer files. Call it when
 *   `summaryProperty("total-delete-files")` grows (each update commit adds delete files).
 * - `table.expireSnapshots({ olderThanMs, retainLast })`: drops old snapshots and the files only
 *   they referenced. Metadata JSON grows by one snapshot per commit until this runs.
 * - `table.removeOrphanFiles({ olderThanMs })`: deletes unreferenced files (e.g. left by a crash
 *   between writing and committing); needs `FileIO.list` (LocalFileIO has it).
 * - Reading state: `table.schema()`, `table.spec()`, `table.currentSnapshot()`,
 *   `table.summaryProperty(key)`, `table.metadata`, `table.metadataLocation`, `table.location`,
 *   `table.refresh()`, `table.hasPrimaryKey`, `table.indexedRows`, `table.keyOf(row)` and
 *   `table.pkIndex.get(key)` -> `{ path, pos }` of the live row (e.g. to read a previous version).
 * - Catalogs: `SqlCatalog.connect({ name, url, warehouse })` (Postgres, Iceberg JDBC schema),
 *   `MemoryCatalog(warehouse)` (in-process, tests), `RestCatalog` in rest.ts. All implement
 *   `Catalog` (catalog.ts); errors: `NoSuchTableError`, `TableAlreadyExistsError`,
 *   `CommitConflictError`, `CommitStateUnknownError`, `ValidationError`, `CorruptMetadataError`.
 * - Lower level (for tools): `readColumnsById(bytes, fieldIds)` in parquet.ts returns physical
 *   Parquet values (int64 bigint, decimals as unscaled int/bigint/bytes, uuid bytes, dates as
 *   day numbers, timestamps as micros bigint), `readColumnsByIdOptional` (missing columns ->
 *   undefined), and `canonicalFromPhysical(type, value)` in values.ts turns them back into the
 *   canonical JS values above; manifests.ts reads manifests / manifest lists.
 *
 * ## Canonical JS values (what the writer accepts per Iceberg type; `null`/`undefined` = null,
 * allowed only for optional fields)
 *
 * | Iceberg type      | JS value                                                        |
 * |-------------------|-----------------------------------------------------------------|
 * | boolean           | boolean                                                         |
 * | int               | number (integer in int32 range)                                 |
 * | long              | bigint (a safe-integer number is accepted too)                  |
 * | float, double     | number, including NaN and ±Infinity                             |
 * | decimal(p,s)      | string like "-12.340" (exact, never through a float); a bigint   |
 * |                   | is taken as an integer; more than s fraction digits is an error  |
 * | date              | number of days since 1970-01-01, or "YYYY-MM-DD"                 |
 * | time              | bigint microseconds since midnight                              |
 * | timestamp(tz)     | bigint microseconds since 1970-01-01T00:00:00Z (a Date is accepted)|
 * | string            | string (jsonb: its text)                                        |
 * | uuid              | string "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"                    |
 * | binary, fixed[n]  | Uint8Array (Buffer is fine)                                     |
 * | list<primitive>   | array of the element's JS values (elements may be null when the |
 * |                   | list's element is optional)                                      |
 *
 * Values are read back by engines exactly: the integration tests compare chdb's
 * `icebergLocal()` output with the rows written.
 *
 * ## Primary-key index (how updates/deletes become position deletes)
 *
 * A mirror table (one with identifier fields) keeps an in-memory map key -> (data file,
 * position). It is rebuilt when a table is loaded by reading only the key columns of the live
 * data files plus the position delete files (hyparquet), and kept up to date incrementally on
 * every commit, including commits by other writers found on a conflict (their added data and
 * delete files are read, nothing else). Nothing extra is persisted, so the table itself is the
 * single source of truth and a crash can never leave the index out of step with the table.
 *
 * ## Reading back with ClickHouse / chdb
 *
 * `SELECT … FROM icebergLocal('/abs/table/location')` reads these tables, position deletes
 * included, with no extra settings (chdb 3.x / ClickHouse 26.x). chdb only opens paths under its
 * user_files_path, which is the process working directory: run the query with the cwd inside the
 * table location (see test/integration/iceberg/chdb.ts). Renamed / dropped / widened columns
 * read correctly because data files are mapped by field id.
 *
 * ## Snapshot summary
 *
 * Custom properties (`tx.setSummary`) are carried forward into every later snapshot until
 * overwritten, so `summaryProperty("floe.lsn.shard-1")` still answers after a commit by shard 0.
 * Standard Iceberg keys (added-*, total-*, …) are computed by the writer and cannot be set.
 *
 * ## Rows and files
 *
 * - A row key that is not a column of the current schema is a ValidationError (nothing is
 *   dropped silently): evolve the schema first.
 * - Every type uses the spec's Parquet mapping (physical and logical type), with field ids, in
 *   encodings every major reader accepts (see parquet-write.ts writeDataFile; docs/engines.md).
 * - New tables get `write.metadata.delete-after-commit.enabled=true` and
 *   `write.metadata.previous-versions-max=10`: old metadata JSON files are deleted (SQL and
 *   memory catalogs; a REST server manages its own).
 * - Rows are written in the table's sort order (`sortBy`), files carry `sort_order_id`.
 * - Files of a failed commit are deleted; a crash between writing files and committing can leave
 *   orphan files (never referenced, harmless, not cleaned up yet).
 */
export * from "./spec";
export * from "./catalog";
export * from "./io";
export * from "./types";
export { Table, WriteTransaction, SchemaUpdate } from "./table";
export type { CreateTableOptions, CommitResult, RowKey, Row, TableOptions } from "./table";
export { SqlCatalog } from "./sql-catalog";
export { MemoryCatalog } from "./memory-catalog";
export type { SqlCatalogOptions } from "./sql-catalog";
export { applyUpdates, checkRequirements, newTableMetadata } from "./metadata";
export { canonicalFromPhysical, formatDecimal, parseDecimal } from "./values";
export { icebergMetrics } from "./metrics";
