/**
 * SQL catalog in Postgres, using Iceberg's JDBC catalog schema, so Java/PyIceberg SQL catalogs
 * can open the same tables:
 *   iceberg_tables(catalog_name, table_namespace, table_name, metadata_location,
 *                  previous_metadata_location, iceberg_type)
 *   iceberg_namespace_properties(catalog_name, namespace, property_key, property_value)
 * A commit writes a new metadata file and then swaps metadata_location with a conditional
 * UPDATE (compare-and-swap); losing the race raises CommitConflictError and the new file is
 * deleted. A lost answer to the UPDATE raises CommitStateUnknownError and keeps the file: sending
 * the same commit again settles it (its requirements fail once it has landed, and a late copy of
 * the first UPDATE can no longer match: metadata locations are never reused).
 */
import { Pool, type PoolConfig } from "pg";
import {
  CommitConflictError,
  CommitStateUnknownError,
  NamespaceAlreadyExistsError,
  NoSuchNamespaceError,
  NoSuchTableError,
  TableAlreadyExistsError,
  tableIdString,
  type Catalog,
  type CreateTableRequest,
  type LoadTableResult,
  type TableIdentifier,
  type TableRequirement,
  type TableUpdate,
} from "./catalog";
import { LocalFileIO, type FileIO } from "./io";
import { applyUpdates, checkRequirements, metadataFileLocation, metadataVersion, newTableMetadata, parseMetadata } from "./metadata";
import { stringifyIcebergJson, type TableMetadata } from "./spec";

export interface SqlCatalogOptions {
  /** Catalog name (the catalog_name column). */
  name: string;
  /** Postgres connection string, or a pg Pool config. */
  url?: string;
  pool?: PoolConfig;
  /** Warehouse root URI for new tables, e.g. file:///var/lake. */
  warehouse: string;
  /** File IO for table files. Defaults to LocalFileIO (file:// warehouses). */
  io?: FileIO;
}

const NS_SEP = ".";
const EXISTS_PROP = "exists";

export class SqlCatalog implements Catalog {
  readonly name: string;
  readonly writesMetadataFiles = true;
  readonly warehouse: string;
  private readonly pool: Pool;
  private readonly io: FileIO;

  private constructor(options: SqlCatalogOptions, pool: Pool) {
    this.name = options.name;
    this.warehouse = options.warehouse.replace(/\/+$/, "");
    this.pool = pool;
    this.io = options.io ?? new LocalFileIO();
  }

  /** Connects and creates the JDBC catalog tables when missing. */
  static async connect(options: SqlCatalogOptions): Promise<SqlCatalog> {
    if (!options.url && !options.pool) throw new Error("SqlCatalog: pass url (a Postgres connection string) or pool");
    const pool = new Pool(options.pool ?? { connectionString: options.url, max: 4 });
    // An idle connection dropped by the server (restart, failover) must not crash the process:
    // the pool discards it and the next query connects again.
    pool.on("error", () => undefined);
    const catalog = new SqlCatalog(options, pool);
    await catalog.initialize();
    return catalog;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async initialize(): Promise<void> {
    // Two processes may initialize at once: serialize on an advisory lock.
    const c = await this.pool.connect();
    try {
      await c.query("SELECT pg_advisory_lock(4242001)");
      await c.query(`CREATE TABLE IF NOT EXISTS iceberg_tables (
        catalog_name VARCHAR(255) NOT NULL,
        table_namespace VARCHAR(255) NOT NULL,
        table_name VARCHAR(255) NOT NULL,
        metadata_location VARCHAR(1000),
        previous_metadata_location VARCHAR(1000),
        iceberg_type VARCHAR(5),
        PRIMARY KEY (catalog_name, table_namespace, table_name))`);
      // Catalogs created by Iceberg's JdbcCatalog before schema V1 lack iceberg_type.
      await c.query("ALTER TABLE iceberg_tables ADD COLUMN IF NOT EXISTS iceberg_type VARCHAR(5)");
      await c.query(`CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
        catalog_name VARCHAR(255) NOT NULL,
        namespace VARCHAR(255) NOT NULL,
        property_key VARCHAR(255) NOT NULL,
        property_value VARCHAR(1000),
        PRIMARY KEY (catalog_name, namespace, property_key))`);
    } finally {
      await c.query("SELECT pg_advisory_unlock(4242001)").catch(() => undefined);
      c.release();
    }
  }

  fileIO(_table?: LoadTableResult): FileIO {
    return this.io;
  }

  // ---- namespaces -----------------------------------------------------------------------------

  async createNamespace(namespace: string[], properties: Record<string, string> = {}): Promise<void> {
    const ns = namespace.join(NS_SEP);
    if (await this.namespaceExists(namespace)) throw new NamespaceAlreadyExistsError(`namespace ${ns} already exists in catalog ${this.name}`);
    const props = { [EXISTS_PROP]: "true", ...properties };
    for (const [k, v] of Object.entries(props)) {
      await this.pool.query(
        `INSERT INTO iceberg_namespace_properties (catalog_name, namespace, property_key, property_value) VALUES ($1,$2,$3,$4)
         ON CONFLICT (catalog_name, namespace, property_key) DO UPDATE SET property_value = EXCLUDED.property_value`,
        [this.name, ns, k, v],
      );
    }
  }

  async namespaceExists(namespace: string[]): Promise<boolean> {
    const ns = namespace.join(NS_SEP);
    const r = await this.pool.query(
      `SELECT 1 FROM iceberg_namespace_properties WHERE catalog_name=$1 AND namespace=$2
       UNION ALL SELECT 1 FROM iceberg_tables WHERE catalog_name=$1 AND table_namespace=$2 LIMIT 1`,
      [this.name, ns],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async listNamespaces(parent: string[] = []): Promise<string[][]> {
    const r = await this.pool.query(
      `SELECT namespace AS ns FROM iceberg_namespace_properties WHERE catalog_name=$1
       UNION SELECT table_namespace FROM iceberg_tables WHERE catalog_name=$1`,
      [this.name],
    );
    const prefix = parent.join(NS_SEP);
    return r.rows
      .map((x) => String(x.ns))
      .filter((ns) => (prefix ? ns.startsWith(prefix + NS_SEP) : true))
      .sort()
      .map((ns) => ns.split(NS_SEP));
  }

  async dropNamespace(namespace: string[]): Promise<void> {
    const ns = namespace.join(NS_SEP);
    const tables = await this.listTables(namespace);
    if (tables.length > 0) throw new Error(`namespace ${ns} is not empty: ${tables.map(tableIdString).join(", ")}`);
    await this.pool.query("DELETE FROM iceberg_namespace_properties WHERE catalog_name=$1 AND namespace=$2", [this.name, ns]);
  }

  // ---- tables ---------------------------------------------------------------------------------

  async listTables(namespace: string[]): Promise<TableIdentifier[]> {
    const r = await this.pool.query("SELECT table_name FROM iceberg_tables WHERE catalog_name=$1 AND table_namespace=$2 ORDER BY table_name", [
      this.name,
      namespace.join(NS_SEP),
    ]);
    return r.rows.map((x) => ({ namespace: [...namespace], name: String(x.table_name) }));
  }

  async tableExists(id: TableIdentifier): Promise<boolean> {
    return (await this.currentLocation(id)) !== undefined;
  }

  private async currentLocation(id: TableIdentifier): Promise<string | undefined> {
    const r = await this.pool.query("SELECT metadata_location FROM iceberg_tables WHERE catalog_name=$1 AND table_namespace=$2 AND table_name=$3", [
      this.name,
      id.namespace.join(NS_SEP),
      id.name,
    ]);
    return r.rowCount ? String(r.rows[0].metadata_location) : undefined;
  }

  async createTable(id: TableIdentifier, request: CreateTableRequest): Promise<LoadTableResult> {
    const ns = id.namespace.join(NS_SEP);
    if (!(await this.namespaceExists(id.namespace))) throw new NoSuchNamespaceError(`namespace ${ns} does not exist in catalog ${this.name}; create it first`);
    if (await this.tableExists(id)) throw new TableAlreadyExistsError(`table ${tableIdString(id)} already exists in catalog ${this.name}`);
    const location = request.location ?? `${this.warehouse}/${id.namespace.join("/")}/${id.name}`;
    const metadata = newTableMetadata(request, location);
    const metadataLocation = metadataFileLocation(metadata.location, 0);
    await this.io.write(metadataLocation, Buffer.from(stringifyMetadata(metadata)));
    try {
      await this.pool.query(
        `INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location, iceberg_type)
         VALUES ($1,$2,$3,$4,NULL,'TABLE')`,
        [this.name, ns, id.name, metadataLocation],
      );
    } catch (e) {
      await this.io.delete(metadataLocation);
      if ((e as { code?: string }).code === "23505") throw new TableAlreadyExistsError(`table ${tableIdString(id)} already exists in catalog ${this.name}`);
      throw e;
    }
    return { "metadata-location": metadataLocation, metadata };
  }

  async loadTable(id: TableIdentifier): Promise<LoadTableResult> {
    const loc = await this.currentLocation(id);
    if (loc === undefined) throw new NoSuchTableError(`table ${tableIdString(id)} does not exist in catalog ${this.name}`);
    return { "metadata-location": loc, metadata: await this.readMetadata(loc) };
  }

  private async readMetadata(location: string): Promise<TableMetadata> {
    const bytes = await this.io.read(location);
    return parseMetadata(Buffer.from(bytes).toString("utf8"), location);
  }

  async commitTable(id: TableIdentifier, requirements: TableRequirement[], updates: TableUpdate[]): Promise<LoadTableResult> {
    const base = await this.loadTable(id);
    checkRequirements(base.metadata, requirements);
    const next = applyUpdates(base.metadata, updates, base["metadata-location"]);
    const nextLocation = metadataFileLocation(next.location, metadataVersion(base["metadata-location"]) + 1);
    await this.io.write(nextLocation, Buffer.from(stringifyMetadata(next)));
    let swapped: number;
    try {
      const r = await this.pool.query(
        `UPDATE iceberg_tables SET metadata_location=$1, previous_metadata_location=$2
         WHERE catalog_name=$3 AND table_namespace=$4 AND table_name=$5 AND metadata_location=$2`,
        [nextLocation, base["metadata-location"], this.name, id.namespace.join(NS_SEP), id.name],
      );
      swapped = r.rowCount ?? 0;
    } catch (e) {
      // The server answered with an error that rolled the statement back: nothing was committed.
      if (definitelyFailed(e)) {
        await this.io.delete(nextLocation).catch(() => undefined);
        throw e;
      }
      // The UPDATE may or may not have been applied (the connection was lost after sending it).
      throw new CommitStateUnknownError(`commit to ${tableIdString(id)}: ${(e as Error).message}`);
    }
    if (swapped !== 1) {
      await this.io.delete(nextLocation);
      throw new CommitConflictError(`commit to ${tableIdString(id)} lost the race: metadata_location is no longer ${base["metadata-location"]}`);
    }
    return { "metadata-location": nextLocation, metadata: next };
  }

  async dropTable(id: TableIdentifier, _purge = false): Promise<void> {
    const r = await this.pool.query("DELETE FROM iceberg_tables WHERE catalog_name=$1 AND table_namespace=$2 AND table_name=$3", [
      this.name,
      id.namespace.join(NS_SEP),
      id.name,
    ]);
    if (!r.rowCount) throw new NoSuchTableError(`table ${tableIdString(id)} does not exist in catalog ${this.name}`);
  }
}

/**
 * An error the server answered for a statement that it therefore did not commit: SQLSTATE classes
 * 22 (data), 23 (constraint), 28 (authorization), 3D/3F (no such database/schema), 40 (rolled
 * back), 42 (syntax, permission, undefined object). Anything else (a lost connection, an
 * administrator's shutdown, an internal error) leaves the outcome unknown.
 */
function definitelyFailed(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" && /^(22|23|28|3D|3F|40|42)[0-9A-Z]{3}$/.test(code);
}

/** Metadata JSON as written to disk (no current snapshot is written as -1, as Java Iceberg does). */
export function stringifyMetadata(m: TableMetadata): string {
  const out: Record<string, unknown> = { ...m };
  if (out["current-snapshot-id"] === null || out["current-snapshot-id"] === undefined) out["current-snapshot-id"] = -1n;
  return stringifyIcebergJson(out, 2);
}
