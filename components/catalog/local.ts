/**
 * The Iceberg catalog on the local target: Iceberg's JDBC catalog schema (iceberg_tables,
 * iceberg_namespace_properties) in a database of the local Postgres (LocalSqlCatalog), which
 * pyiceberg's SqlCatalog, Spark's JdbcCatalog and Trino (`iceberg.catalog.type=jdbc`) open too.
 * `uri` is that database's URL (secret); `warehouse` is the warehouse location.
 */
import * as pulumi from "@pulumi/pulumi";
import { rejectOtherTargets, type BuildContext } from "../target";
import type { IcebergCatalogArgs, IcebergCatalogBuildResult } from "./args";
import { LocalSqlCatalog } from "./localSqlCatalog";

export function buildLocalCatalog(ctx: BuildContext<IcebergCatalogArgs>): IcebergCatalogBuildResult {
  const { name, args, v, childOpts } = ctx;
  rejectOtherTargets(ctx);
  const la = args.local;
  if (!la) return v.fail("local", undefined, 'is required when target is "local"', "pass local: { uri } (the Postgres database that holds the catalog tables, e.g. a PostgresCluster's extra database)");
  if (args.storage.warehouseLocation === undefined) v.fail("storage.warehouseLocation", undefined, 'is required on target "local"', "pass the warehouse directory's file:/// location (ObjectStorage.warehouseLocation)");
  const namespace = v.sqlIdentifier("namespace", args.namespace ?? "floe");
  const catalog = new LocalSqlCatalog(`${name}-sql`, { uri: la.uri, name: la.name ?? "floe", warehouse: args.storage.warehouseLocation!, namespace }, childOpts);
  return {
    type: "sql",
    uri: pulumi.secret(catalog.uri),
    warehouse: catalog.warehouse,
    namespace,
    sigv4Service: undefined,
    region: pulumi.output("local"),
    accessPolicyArn: pulumi.output(undefined),
  };
}
