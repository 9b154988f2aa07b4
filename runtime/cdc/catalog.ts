/** Builds the Iceberg catalog the CDC config names. */
import { SqlCatalog } from "../iceberg";
import type { Catalog } from "../iceberg/catalog";
import type { CdcConfig } from "./config";

export async function openCatalog(config: CdcConfig): Promise<Catalog> {
  const c = config.catalog;
  if (c.type === "sql") return SqlCatalog.connect({ name: c.name, url: c.uri, warehouse: config.warehouse });
  const rest = await import("../iceberg/rest");
  return (rest as any).RestCatalog.connect({ ...c, warehouse: c.warehouse ?? config.warehouse, storage: config.storage });
}
