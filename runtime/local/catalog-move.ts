/**
 * Moves the local SQL catalog (Iceberg's JDBC catalog rows of one catalog name) from one Postgres
 * database to another: what retiring blue after a local blue/green upgrade needs, since the catalog
 * lives in shard 0's `floe_catalog` database and logical replication did not carry it.
 *
 * Only safe while nothing commits to the catalog: the local CDC writer (its only writer) is stopped
 * around the move. The table data and metadata files stay where they are (the warehouse); only the
 * pointers move. Idempotent: the target's rows for the catalog are replaced by the source's; when
 * the source is gone but the target already holds the catalog, it was moved before.
 */
import { Client } from "pg";
import { SqlCatalog } from "../iceberg/sql-catalog";

export interface CatalogMove {
  tables: number;
  namespaceProperties: number;
  /** true when the source was unreachable and the target already held the catalog */
  alreadyMoved: boolean;
}

async function connect(url: string): Promise<Client> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  c.on("error", () => undefined);
  await c.connect();
  return c;
}

export async function moveSqlCatalog(fromUri: string, toUri: string, name: string, warehouse: string): Promise<CatalogMove> {
  // the target's tables (Iceberg's JDBC schema), created the way the writer creates them
  await (await SqlCatalog.connect({ name, url: toUri, warehouse })).close();
  const to = await connect(toUri);
  try {
    let from: Client;
    try {
      from = await connect(fromUri);
    } catch (e) {
      const n = Number((await to.query("SELECT count(*)::int AS n FROM iceberg_tables WHERE catalog_name = $1", [name])).rows[0].n);
      const ns = Number((await to.query("SELECT count(*)::int AS n FROM iceberg_namespace_properties WHERE catalog_name = $1", [name])).rows[0].n);
      if (n + ns > 0) return { tables: n, namespaceProperties: ns, alreadyMoved: true };
      throw new Error(`cannot move the SQL catalog "${name}": its database is unreachable (${(e as Error).message}) and the new one holds none of it`);
    }
    try {
      const tables = (
        await from.query(
          "SELECT catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location, iceberg_type FROM iceberg_tables WHERE catalog_name = $1",
          [name],
        )
      ).rows;
      const props = (
        await from.query("SELECT catalog_name, namespace, property_key, property_value FROM iceberg_namespace_properties WHERE catalog_name = $1", [name])
      ).rows;
      await to.query("BEGIN");
      try {
        await to.query("DELETE FROM iceberg_tables WHERE catalog_name = $1", [name]);
        await to.query("DELETE FROM iceberg_namespace_properties WHERE catalog_name = $1", [name]);
        for (const t of tables) {
          await to.query(
            "INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location, iceberg_type) VALUES ($1, $2, $3, $4, $5, $6)",
            [t.catalog_name, t.table_namespace, t.table_name, t.metadata_location, t.previous_metadata_location, t.iceberg_type],
          );
        }
        for (const p of props) {
          await to.query("INSERT INTO iceberg_namespace_properties (catalog_name, namespace, property_key, property_value) VALUES ($1, $2, $3, $4)", [
            p.catalog_name,
            p.namespace,
            p.property_key,
            p.property_value,
          ]);
        }
        await to.query("COMMIT");
      } catch (e) {
        await to.query("ROLLBACK").catch(() => undefined);
        throw e;
      }
      return { tables: tables.length, namespaceProperties: props.length, alreadyMoved: false };
    } finally {
      await from.end().catch(() => undefined);
    }
  } finally {
    await to.end().catch(() => undefined);
  }
}
