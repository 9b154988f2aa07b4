/**
 * BlueGreenUpgrade on the local target: a green `LocalPostgresServer` at the new major next to blue
 * and a `LocalUpgrade` that runs the orchestrator in-process during `pulumi up` against the local
 * pgBouncer (its pgbouncer.ini and admin console).
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { BuildContext } from "../target";
import { LocalPostgresServer } from "../postgres/localServer";
import { LocalUpgrade } from "./localUpgrade";
import type { BlueGreenUpgradeArgs, BlueGreenUpgradeBuildResult } from "./args";
import { checkUpgradeArgs } from "./common";

export function buildLocalUpgrade(ctx: BuildContext<BlueGreenUpgradeArgs>): BlueGreenUpgradeBuildResult {
  const { name, args, v, childOpts } = ctx;
  const { database, budgetMs } = checkUpgradeArgs(ctx);
  const la = args.local;
  if (!la) return v.fail("local", undefined, 'is required when target is "local"', "pass local: { dataDir, poolerDir, passwords } (blue's passwords)");
  if (typeof la.dataDir !== "string" || !path.isAbsolute(la.dataDir))
    v.fail("local.dataDir", la.dataDir, "must be an absolute path", 'pass e.g. path.resolve(".floe-upgrade")');
  if (args.roles !== undefined)
    v.fail(
      "roles",
      "[…]",
      'is not used on target "local": the green server has the platform\'s roles',
      "remove it; set local.appUsername / local.replicationUsername and local.passwords instead",
    );
  if (args.toVersion < 17)
    v.fail(
      "toVersion",
      args.toVersion,
      "is older than 17: local blue/green upgrades start from Postgres 16 (the CDC handoff needs pgoutput's origin option)",
      "set toVersion to 17 or newer",
    );
  const green = new LocalPostgresServer(
    `${name}-green`,
    {
      dataDir: la.greenDataDir ?? path.join(la.dataDir, `green-${args.toVersion}`),
      major: args.toVersion,
      database,
      extraDatabases: la.extraDatabases,
      appUsername: la.appUsername,
      replicationUsername: la.replicationUsername,
      publication: args.cdc ? args.cdc.publication : undefined,
      settings: la.settings,
      passwords: la.passwords,
    },
    childOpts,
  );
  const greenUrl = pulumi.secret(pulumi.interpolate`postgresql://${green.adminUsername}:${green.adminPassword}@127.0.0.1:${green.port}/${database}`);
  const none = pulumi.output(undefined);
  if (!(args.run ?? true)) {
    return {
      greenHost: pulumi.output("127.0.0.1"),
      greenUrl,
      jobName: none,
      taskDefinitionArn: none,
      runTaskCommand: none,
      statePath: none,
      poolerPort: none,
      rollbackCommand: none,
      phase: none,
    };
  }
  const admin = pulumi.output(args.poolerAdminUrl).apply((u) => {
    const url = new URL(u);
    return { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  });
  const run = new LocalUpgrade(
    `${name}-run`,
    {
      blueUrl: args.blueUrl,
      greenUrl,
      poolerDir: la.poolerDir,
      poolerAdmin: pulumi.secret(admin),
      poolerDatabase: la.poolerDatabase ?? database,
      poolerAliases: la.poolerAliases ?? [],
      statePath: la.statePath ?? path.join(la.dataDir, `upgrade-to-${args.toVersion}.json`),
      budgetMs,
      cdc: args.cdc,
      retireBlue: la.retireBlue,
    },
    { ...childOpts, dependsOn: [green] },
  );
  return {
    greenHost: pulumi.output("127.0.0.1"),
    greenUrl,
    jobName: none,
    taskDefinitionArn: none,
    runTaskCommand: none,
    statePath: run.statePath as pulumi.Output<string | undefined>,
    poolerPort: run.poolerTarget.apply((t) => t.port as number | undefined),
    rollbackCommand: run.rollbackCommand as pulumi.Output<string | undefined>,
    phase: run.phase as pulumi.Output<string | undefined>,
  };
}
