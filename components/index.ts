// floe's component library. One component per file; this file only re-exports.
export { TARGETS, DEFAULT_TARGET } from "./target";
export { FloeArgError } from "./errors";
export * from "./postgres/postgresCluster";
export * from "./postgres/databaseRoles";
export type { PostgresSource } from "./postgres/types";
export * from "./pooler/pooler";
export * from "./lake/objectStorage";
export * from "./lake/icebergCatalog";
export * from "./query/queryEngines";
export * from "./cdc/cdcWriter";
export * from "./platform/dataPlatform";
export * from "./local/platform";
export { localPlatformArgs } from "./local/fromDataPlatform";
export * from "./schema/database-branch";
export * from "./schema/schema-migration";
export * from "./upgrade/blue-green-upgrade";
