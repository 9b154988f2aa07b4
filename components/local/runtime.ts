/**
 * Where the local target's dynamic providers find floe's runtime code.
 *
 * Pulumi serializes a dynamic provider's functions into the resource state and runs them later in
 * a separate Node process (the `pulumi-nodejs` provider), where only plain `require` of absolute
 * paths works: no TypeScript loader, no closure over imported modules. So the providers call
 * `runtimeModule("local/postgres")`, which requires the compiled runtime (dist/runtime, built by
 * `npm run build`) by absolute path. The path is computed here, at module load, and captured by
 * value when a provider is serialized.
 */
import * as path from "node:path";

const here = __dirname;
/** dist/runtime, whether this file runs compiled (dist/components/local) or from source (components/local, via ts-node or jest). */
export const RUNTIME_DIR: string = here.split(path.sep).includes("dist")
  ? path.resolve(here, "..", "..", "runtime")
  : path.resolve(here, "..", "..", "dist", "runtime");

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
