/**
 * The pooler on the local target: pgBouncer from the OS package (LocalPgBouncer), run as the
 * unprivileged server user when Pulumi runs as root, its config rendered by runtime/pgbouncer.
 * `adminUrl` is its admin console (what a local BlueGreenUpgrade drives), `configDir` the
 * directory of its pgbouncer.ini.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { rejectOtherTargets, type BuildContext } from "../target";
import { defaultLocalDir } from "../postgres/local";
import { POOL_MODES, type PoolerArgs, type PoolerBuildResult } from "./args";
import { LocalPgBouncer } from "./localPgBouncer";

export function buildLocalPooler(ctx: BuildContext<PoolerArgs>): PoolerBuildResult {
  const { name, args, v, childOpts } = ctx;
  rejectOtherTargets(ctx);
  const la = args.local;
  if (!la)
    return v.fail(
      "local",
      undefined,
      'is required when target is "local"',
      "pass local: { databases, users, adminUsers } (e.g. from a local PostgresCluster: its sources, roles and adminUsername)",
    );
  if (!la.adminUsers?.length)
    v.fail("local.adminUsers", la.adminUsers, "must name at least one user", "name a user of local.users (e.g. the cluster's superuser) for the admin console");
  const poolMode = v.oneOf("poolMode", args.poolMode, "transaction", POOL_MODES);
  const maxClientConnections = v.int("maxClientConnections", args.maxClientConnections, 1000, 1, 100000);
  const defaultPoolSize = v.int("defaultPoolSize", args.defaultPoolSize, 20, 1, 10000);
  if (args.instances !== undefined && args.instances !== 1)
    v.fail("instances", args.instances, 'must be 1 on target "local" (one pgBouncer process)', "leave instances unset");
  const dir = la.dir ?? defaultLocalDir(name);
  if (!path.isAbsolute(dir)) v.fail("local.dir", dir, "must be an absolute path", 'pass e.g. path.resolve(".floe/pgbouncer")');
  const bouncer = new LocalPgBouncer(
    `${name}-pgbouncer`,
    { dir, port: la.port ?? 0, databases: la.databases, users: la.users, adminUsers: la.adminUsers, poolMode, maxClientConnections, defaultPoolSize },
    childOpts,
  );
  const admin = la.adminUsers[0];
  const adminPassword = pulumi.output(la.users).apply((us) => us.find((u) => u.name === admin)?.password);
  const none = pulumi.output(undefined);
  return {
    host: pulumi.output("127.0.0.1"),
    port: bouncer.port,
    poolMode,
    poolerName: none,
    cutoverServiceAccount: none,
    proxyArn: none,
    cutoverPolicyArn: none,
    adminUrl: pulumi.secret(
      pulumi
        .all([adminPassword, bouncer.port])
        .apply(([pw, port]) =>
          pw === undefined ? undefined : `postgresql://${encodeURIComponent(admin)}:${encodeURIComponent(pw)}@127.0.0.1:${port}/pgbouncer`,
        ),
    ),
    configClaim: none,
    configDir: bouncer.dir.apply((d) => d as string | undefined),
  };
}
