/** Builds the Iceberg catalog the CDC config names. */
import { pgConfig } from "../core/postgres-tls";
import { SqlCatalog } from "../iceberg";
import type { Catalog } from "../iceberg/catalog";
import type { CdcConfig } from "./config";
import { postgresOrigin, withOrigin } from "./errors";

export async function openCatalog(config: CdcConfig): Promise<Catalog> {
  const c = config.catalog;
  if (c.type === "sql") {
    // TLS to the catalog's Postgres with libpq's sslmode meanings, as for the sources.
    const origin = postgresOrigin("the SQL catalog", "catalog.uri", c.uri);
    return withOrigin(origin, () => SqlCatalog.connect({ name: c.name, pool: { ...pgConfig(c.uri, c, "the SQL catalog"), max: 4 }, warehouse: config.warehouse }));
  }
  const rest = await import("../iceberg/rest");
  return (rest as any).RestCatalog.connect({ ...c, warehouse: c.warehouse ?? config.warehouse, storage: config.storage });
}
