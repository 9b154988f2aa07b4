// floe's component library. One component per file; this file only re-exports.
export { TARGETS, DEFAULT_TARGET } from "./target";
export { FloeArgError } from "./errors";
export * from "./postgres/postgresCluster";
export * from "./postgres/databaseRoles";
export * from "./pooler/pooler";
export * from "./storage/objectStorage";
export * from "./catalog/icebergCatalog";
export * from "./query/queryEngines";
export * from "./cdc/cdcWriter";
export * from "./platform/dataPlatform";
export * from "./platform/localPlatform";
export { localPlatformArgs } from "./platform/local";
export * from "./branch/databaseBranch";
export * from "./schema/schema-migration";
export * from "./upgrade/blueGreenUpgrade";
