/**
 * Query engines on the local target: chdb (ClickHouse in-process, npm `chdb`) through
 * `floe query --catalog <catalog uri> "<sql>"`; it reads the catalog's tables where they lie, so
 * nothing is deployed and every endpoint output stays undefined. Trino, ClickHouse servers and
 * Athena are not available locally.
 */
import * as pulumi from "@pulumi/pulumi";
import { rejectOtherTargets, type BuildContext } from "../target";
import type { QueryEnginesArgs, QueryEnginesBuildResult } from "./args";

export function buildLocalQueryEngines(ctx: BuildContext<QueryEnginesArgs>): QueryEnginesBuildResult {
  const { args, v } = ctx;
  rejectOtherTargets(ctx);
  for (const engine of ["trino", "clickhouse", "athena"] as const) {
    if (args[engine])
      v.fail(
        engine,
        true,
        'is not available on target "local" (the local engine is chdb in-process: `floe query`)',
        `remove ${engine}, or run QueryEngines on target "kubernetes" or "aws"`,
      );
  }
  const none = pulumi.output(undefined);
  return { trinoEndpoint: none, clickhouseEndpoint: none, clickhousePassword: none, athenaWorkgroup: none };
}
