/**
 * The Iceberg catalog on the local target: Iceberg's JDBC catalog schema (iceberg_tables,
 * iceberg_namespace_properties) in a database of the local Postgres (LocalSqlCatalog), which
 * pyiceberg's SqlCatalog, Spark's JdbcCatalog and Trino (`iceberg.catalog.type=jdbc`) open too;
 * and, with `local.rest`, Apache Iceberg's own REST catalog server over the same tables
 * (LocalRestCatalogServer) behind OAuth2 client credentials, which engines attach to as they do in
 * production. `uri` is the database's URL (secret), `restUri` the REST endpoint, `restCredential`
 * the client credentials (secret); `warehouse` is the warehouse location.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { rejectOtherTargets, type BuildContext } from "../target";
import { defaultLocalDir } from "../postgres/local";
import type { IcebergCatalogArgs, IcebergCatalogBuildResult } from "./args";
import { LocalSqlCatalog } from "./localSqlCatalog";
import { LocalRestCatalogServer } from "./localRestServer";

export function buildLocalCatalog(ctx: BuildContext<IcebergCatalogArgs>): IcebergCatalogBuildResult {
  const { name, args, v, childOpts } = ctx;
  rejectOtherTargets(ctx);
  const la = args.local;
  if (!la)
    return v.fail(
      "local",
      undefined,
      'is required when target is "local"',
      "pass local: { uri } (the Postgres database that holds the catalog tables, e.g. a PostgresCluster's extra database)",
    );
  if (args.storage.warehouseLocation === undefined)
    v.fail(
      "storage.warehouseLocation",
      undefined,
      'is required on target "local"',
      "pass the warehouse directory's file:/// location (ObjectStorage.warehouseLocation)",
    );
  const namespace = v.sqlIdentifier("namespace", args.namespace ?? "floe");
  const catalogName = la.name ?? "floe";
  const rest = la.rest ?? false;
  if (typeof rest !== "boolean")
    v.fail(
      "local.rest",
      rest,
      "must be true or false",
      "pass true to run the REST catalog server over the SQL catalog, or leave it unset for the SQL catalog alone",
    );
  const restPort = v.int("local.restPort", la.restPort, 0, 0, 65535);
  const dir = la.dir ?? defaultLocalDir(name);
  if (!path.isAbsolute(dir)) v.fail("local.dir", dir, "must be an absolute path", 'pass e.g. path.resolve(".floe/catalog")');
  const catalog = new LocalSqlCatalog(`${name}-sql`, { uri: la.uri, name: catalogName, warehouse: args.storage.warehouseLocation!, namespace }, childOpts);
  const common = {
    type: "sql",
    uri: pulumi.secret(catalog.uri),
    warehouse: catalog.warehouse,
    namespace,
    sigv4Service: undefined,
    region: pulumi.output("local"),
    accessPolicyArn: pulumi.output(undefined),
  };
  if (!rest) return { ...common, restUri: pulumi.output(undefined), restCredential: pulumi.output(undefined) };
  const server = new LocalRestCatalogServer(
    `${name}-rest`,
    { dir, catalogUrl: la.uri, name: catalogName, warehouse: args.storage.warehouseLocation!, port: restPort, credential: la.restCredential },
    // the SQL catalog makes the tables and the namespace the server's JdbcCatalog then finds
    { ...childOpts, dependsOn: [catalog] },
  );
  return {
    ...common,
    restUri: server.uri.apply((u) => u as string | undefined),
    restCredential: pulumi.secret(server.credential).apply((c) => c as string | undefined),
  };
}
