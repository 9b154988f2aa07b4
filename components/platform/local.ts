import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { DataPlatformArgs } from "../platform/args";
import type { LocalPlatformArgs } from "./localPlatform";

/**
 * DataPlatformArgs -> LocalPlatformArgs: how `new DataPlatform(name, { target: "local", ... })`
 * maps onto the local target. Kubernetes- and AWS-only settings do not apply locally and are
 * ignored; the data directory defaults to `.floe-<stack>` in the program's working directory.
 */
export function localPlatformArgs(args: DataPlatformArgs, dataDir?: string): LocalPlatformArgs {
  const pg = args.postgres ?? {};
  const ro = pg.roles ?? {};
  const p = args.pooler ?? {};
  const cdc = args.cdc ?? {};
  return {
    dataDir: path.resolve(dataDir ?? `.floe-${pulumi.getStack()}`),
    postgres: {
      version: pg.version,
      shards: pg.shards,
      database: pg.database,
      appUsername: ro.appUsername,
      replicationUsername: ro.replicationUsername,
      publication: ro.publication,
    },
    pooler: { poolMode: p.poolMode, maxClientConnections: p.maxClientConnections, defaultPoolSize: p.defaultPoolSize },
    namespace: args.catalog?.namespace,
    cdc: { tables: cdc.tables, commitIntervalMs: cdc.commitIntervalMs },
    // the local upgrade always runs in `pulumi up`; run, poolerAdminUrl, efsFileSystemId and image are for kubernetes and aws
    upgrade: args.upgrade ? { toVersion: args.upgrade.toVersion, budgetMs: args.upgrade.budgetMs, retireBlue: args.upgrade.retireBlue } : undefined,
  };
}
