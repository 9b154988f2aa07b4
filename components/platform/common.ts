/** What the kubernetes and aws wirings of DataPlatform share: the checks, the bring-your-own catalog, the CDC writer's sources. */
import * as pulumi from "@pulumi/pulumi";
import type { Validator } from "../errors";
import type { PostgresCluster } from "../postgres/postgresCluster";
import type { ObjectStorage } from "../storage/objectStorage";
import { slotName } from "../../runtime/cdc/config";
import { pgUrl } from "../util";
import type { DataPlatformArgs, DataPlatformCdcArgs, DataPlatformUpgradeArgs } from "./args";

/** The catalog the writer and the engines use: created by the platform or brought by the user. */
export interface CatalogView {
  uri: pulumi.Output<string>;
  warehouse: pulumi.Output<string>;
  sigv4Service?: string;
  region?: pulumi.Input<string>;
  accessPolicyArn?: pulumi.Input<string>;
}

/** The checks every cloud target makes before it creates anything. */
export function checkCloudArgs(v: Validator, target: string, args: DataPlatformArgs): void {
  for (const [k, a] of [
    ["postgres", args.postgres],
    ["storage", args.storage],
  ] as const) {
    const pieceTarget = a?.target;
    if (pieceTarget !== undefined)
      v.fail(`${k}.target`, pieceTarget, "is set on a piece of the platform", `remove it; the platform's target ("${target}") applies to every piece`);
  }
  if (args.postgres?.roles?.manage === false) {
    v.fail(
      "postgres.roles.manage",
      false,
      "is not supported by the platform: the CDC writer needs the replication role and publication",
      "leave postgres.roles.manage unset, or compose the components yourself",
    );
  }
  const cat = args.catalog ?? {};
  if (cat.existingUri !== undefined && cat.existingWarehouse === undefined) {
    v.fail("catalog.existingWarehouse", undefined, "is required with catalog.existingUri", "pass the warehouse identifier of your catalog");
  }
  const up = args.upgrade;
  if (!up) return;
  const from = args.postgres?.version ?? 16;
  if (!Number.isInteger(up.toVersion) || up.toVersion <= from) {
    v.fail(
      "upgrade.toVersion",
      up.toVersion,
      `is not newer than postgres.version (${from})`,
      `keep postgres.version at the running major and set upgrade.toVersion above it, e.g. ${from + 1}`,
    );
  }
  if (up.retireBlue) {
    v.fail(
      "upgrade.retireBlue",
      true,
      `applies to the local target only (on ${target}, blue is the platform's own cluster)`,
      "remove it; retire blue yourself after `floe upgrade cleanup`",
    );
  }
  if ((args.postgres?.shards ?? 1) > 1) {
    v.fail(
      "upgrade",
      `{ toVersion: ${up.toVersion} }`,
      `is not supported for a sharded cluster on ${target} yet (Citus / Aurora Limitless upgrade through their own procedures)`,
      "remove upgrade, or upgrade each shard with `floe upgrade run`",
    );
  }
}

/** The CDC writer's args every cloud target shares: one source per shard, the replication role, the warehouse. */
export function cdcCommon(postgres: PostgresCluster, storage: ObjectStorage, shards: number, cdc: DataPlatformCdcArgs, publication: string) {
  const roles = postgres.roles!;
  // Source names are known at construction (one per shard); hosts come from the cluster.
  const names =
    postgres.engine === "cnpg-citus"
      ? Array.from({ length: shards }, (_, i) => `shard-${i}`)
      : [postgres.engine === "aurora-limitless" ? "limitless" : "primary"];
  return {
    image: cdc.image,
    tables: cdc.tables,
    commitIntervalMs: cdc.commitIntervalMs,
    formatVersion: cdc.formatVersion,
    maintenance: cdc.maintenance,
    sources: names.map((n, i) => ({
      name: n,
      host: postgres.sources.apply((s) => s[i].host),
      port: postgres.sources.apply((s) => s[i].port),
      // CloudNativePG's CA, mounted in the writer: verify-full against it (components/cdc/config.ts sourceTls)
      ...(postgres.engine.startsWith("cnpg") ? { caSecretName: postgres.sources.apply((s) => s[i].caSecretName!) } : {}),
    })),
    database: postgres.database,
    replicationUsername: roles.replicationUsername,
    replicationPassword: roles.replicationPassword,
    publication,
    warehouseLocation: storage.warehouseLocation,
  };
}

/** The CDC slot of an unsharded cluster's one source ("primary"), which an upgrade hands over. */
export const primarySlot = (): string => slotName({ name: "primary" } as Parameters<typeof slotName>[0]);

/** A cloud BlueGreenUpgrade's args that do not depend on the target: blue, the budget, the writer's handoff, the roles green needs. */
export function cloudUpgradeArgs(postgres: PostgresCluster, up: DataPlatformUpgradeArgs, database: string, publication: string) {
  const roles = postgres.roles!;
  return {
    toVersion: up.toVersion,
    database,
    blueUrl: pgUrl(postgres.adminUsername, postgres.adminPassword, postgres.host, postgres.port, database),
    budgetMs: up.budgetMs,
    run: up.run,
    image: up.image,
    // the writer's one source on an unsharded cluster is "primary" (cdcCommon)
    cdc: { publication, slot: primarySlot() },
    // the pooler logs in to green as the app role, the CDC writer as the replication role
    roles: [
      { username: roles.appUsername, password: roles.appPassword },
      { username: roles.replicationUsername, password: roles.replicationPassword, replication: true },
    ],
  };
}
