/**
 * `floe/runtime` (package.json exports "./runtime"): floe's runtime programs as a library, one
 * namespace per module, the same code the `floe` CLI (./cli.ts) runs. Never imports components or
 * Pulumi.
 *
 *   import { cdcConfig, cdcWriter, schemaLint } from "floe/runtime";
 *   const config = cdcConfig.loadCdcConfig("cdc.json");
 *   const report = await schemaLint.lintFiles(["migrations/"]);
 */
/** The Iceberg table writer: tables, catalogs (REST, SQL), file IO. */
export * as iceberg from "./iceberg";
/** pgBouncer: config render and parse, the admin console, a local process. */
export * as pgbouncer from "./pgbouncer";
/** The CDC writer's config contract (zod; it owns every default). */
export * as cdcConfig from "./cdc/config";
/** The CDC writer (Postgres -> Iceberg). */
export * as cdcWriter from "./cdc/writer";
/** The blue/green upgrade orchestrator, its plan, its pooler control and its state file. */
export * as upgrade from "./upgrade/orchestrator";
export * as upgradePlan from "./upgrade/plan";
export * as upgradePooler from "./upgrade/pooler";
export * as upgradeState from "./upgrade/state";
/** The schema gate: the policy linter, branches and the branch validator. */
export * as schemaLint from "./schema/lint";
export * as schemaBranch from "./schema/branch";
export * as schemaCheck from "./schema/check";
/** Local Postgres servers and the process helpers of the local target. */
export * as localPostgres from "./local/postgres";
export * as localProcess from "./local/process";
