/**
 * How components load runtime modules: typed, by absolute path, from inside dynamic providers.
 *
 * Pulumi serializes a dynamic provider's functions into the resource state and runs them later in
 * a separate Node process (the `pulumi-nodejs` provider), where only plain `require` of absolute
 * paths works: no TypeScript loader, no closure over imported modules. So the providers call
 * `runtimeModule("local/postgres")`, which requires the compiled runtime (dist/runtime, built by
 * `npm run build`) by absolute path and is typed by the module's source (`RuntimeModules`). The path
 * is computed here, at module load, and captured by value when a provider is serialized.
 *
 * Code that runs in the Pulumi program itself (not in a provider) imports runtime modules directly
 * (`import { cdcConfig } …`): components may import runtime, never the other way round.
 */
import * as path from "node:path";

const here = __dirname;
/** dist/runtime, whether this file runs compiled (dist/components) or from source (components, via ts-node or jest). */
export const RUNTIME_DIR: string = here.split(path.sep).includes("dist") ? path.resolve(here, "..", "runtime") : path.resolve(here, "..", "dist", "runtime");

/** The compiled `floe` CLI the local CDC writer runs. */
export const CLI_PATH: string = path.join(RUNTIME_DIR, "cli.js");

/** node-postgres, resolved here so that serialized providers require it by absolute path. */
export const PG_MODULE: string = require.resolve("pg");

/** Pulumi's engine RPC (for log messages from dynamic providers), resolved here for the same reason. */
export const ENGINE_PROTO: { grpc: string; engine: string; engineGrpc: string } = {
  grpc: require.resolve("@grpc/grpc-js"),
  engine: require.resolve("@pulumi/pulumi/proto/engine_pb.js"),
  engineGrpc: require.resolve("@pulumi/pulumi/proto/engine_grpc_pb.js"),
};

/** The runtime modules dynamic providers load, by their path under runtime/ (typed by their source). */
export interface RuntimeModules {
  "cdc/config": typeof import("../runtime/cdc/config");
  "core/log": typeof import("../runtime/core/log");
  "iceberg/sql-catalog": typeof import("../runtime/iceberg/sql-catalog");
  "local/catalog-move": typeof import("../runtime/local/catalog-move");
  "local/postgres": typeof import("../runtime/local/postgres");
  "local/process": typeof import("../runtime/local/process");
  "local/rest-catalog": typeof import("../runtime/local/rest-catalog");
  "pgbouncer/config": typeof import("../runtime/pgbouncer/config");
  "pgbouncer/process": typeof import("../runtime/pgbouncer/process");
  "schema/branch": typeof import("../runtime/schema/branch");
  "upgrade/orchestrator": typeof import("../runtime/upgrade/orchestrator");
  "upgrade/plan": typeof import("../runtime/upgrade/plan");
  "upgrade/pooler": typeof import("../runtime/upgrade/pooler");
  "upgrade/state": typeof import("../runtime/upgrade/state");
}

/** A compiled runtime module, by absolute path: what a serialized dynamic provider can load. */
export function runtimeModule<K extends keyof RuntimeModules>(name: K): RuntimeModules[K] {
  return require(RUNTIME_DIR + "/" + name + ".js");
}

/** node-postgres, by absolute path (for serialized dynamic providers). */
export function pgModule(): typeof import("pg") {
  return require(PG_MODULE);
}
