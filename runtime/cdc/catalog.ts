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
    return withOrigin(origin, () =>
      SqlCatalog.connect({ name: c.name, pool: { ...pgConfig(c.uri, c, "the SQL catalog"), max: 4 }, warehouse: config.warehouse }),
    );
  }
  const rest = await import("../iceberg/rest");
  // config.storage: the defaults of the S3 FileIO for s3:// tables, under what the catalog says
  // (its config and a table's vended credentials win). Passed as `storage` until the lint found
  // it: RestCatalog has no such option, and `as any` let it be dropped silently.
  const { endpoint, region, forcePathStyle, accessKeyId, secretAccessKey, caFile } = config.storage;
  const s3 = { endpoint, region, forcePathStyle, caFile, ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey } } : {}) };
  return rest.RestCatalog.connect({ ...c, warehouse: c.warehouse ?? config.warehouse, s3 });
}
