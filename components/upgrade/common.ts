/**
 * What every target's BlueGreenUpgrade builder shares: the validation of the common args, and the
 * orchestrator's command-line flags and environment (kubernetes Job, aws task).
 */
import * as pulumi from "@pulumi/pulumi";
import { rejectOtherTargets, type BuildContext } from "../target";
import type { BlueGreenUpgradeArgs } from "./args";
import { withUrlParams } from "../util";

/** Postgres majors a blue/green upgrade can go to. */
export const SUPPORTED_MAJORS = [14, 15, 16, 17, 18];

/** Checks the args every target uses; returns the database and the budget with their defaults. */
export function checkUpgradeArgs(ctx: BuildContext<BlueGreenUpgradeArgs>): { database: string; budgetMs: number } {
  const { name, args, v } = ctx;
  if (!SUPPORTED_MAJORS.includes(args.toVersion))
    v.fail("toVersion", args.toVersion, `is not one of ${SUPPORTED_MAJORS.join(", ")}`, "set toVersion to the new major version");
  const database = v.sqlIdentifier("database", args.database ?? "app");
  const budgetMs = v.int("budgetMs", args.budgetMs, 1000, 0, 600_000);
  v.dnsLabel("name", name, 40);
  rejectOtherTargets(ctx);
  return { database, budgetMs };
}

/** The orchestrator's flags for the CDC handoff. */
export function cdcFlags(args: BlueGreenUpgradeArgs): pulumi.Output<string[]> {
  if (!args.cdc) return pulumi.output([]);
  return pulumi.all([args.cdc.publication, args.cdc.slot]).apply(([p, s]) => ["--cdc-publication", p, "--cdc-slot", s]);
}

/**
 * The orchestrator's environment. With `sslrootcert` (a CA file where the orchestrator runs, or
 * "aws-rds"), its own connections to blue and green verify the servers (verify-full); the
 * subscriptions' CONNECTION strings are opened by the servers themselves, where that file does not
 * exist, so they stay encrypted without verification (require: FLOE_UPGRADE_BLUE_FROM_GREEN /
 * _GREEN_FROM_BLUE). Without it, the URLs are used as given.
 */
export function orchestratorEnv(
  args: BlueGreenUpgradeArgs,
  greenUrl: pulumi.Output<string>,
  budgetMs: number,
  iniPath: string,
  statePath: string,
  sslrootcert?: string,
): pulumi.Output<Record<string, string>> {
  const verified = (u: string) => (sslrootcert ? withUrlParams(u, { sslmode: "verify-full", sslrootcert }) : u);
  const byServer = (u: string) => withUrlParams(u, { sslmode: "require", sslrootcert: undefined });
  return pulumi.secret(
    pulumi.all([pulumi.output(args.blueUrl), greenUrl, pulumi.output(args.poolerAdminUrl)]).apply(([blue, green, admin]): Record<string, string> => ({
      FLOE_UPGRADE_BLUE_URL: verified(blue),
      FLOE_UPGRADE_GREEN_URL: verified(green),
      ...(sslrootcert ? { FLOE_UPGRADE_BLUE_FROM_GREEN: byServer(blue), FLOE_UPGRADE_GREEN_FROM_BLUE: byServer(green) } : {}),
      FLOE_UPGRADE_POOLER_ADMIN: admin,
      FLOE_UPGRADE_POOLER_INI: iniPath,
      FLOE_UPGRADE_STATE: statePath,
      FLOE_UPGRADE_BUDGET_MS: String(budgetMs),
    })),
  );
}
