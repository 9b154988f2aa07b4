/**
 * The platform on the local target, composed from the pieces' local builders: a data directory,
 * PostgresCluster (a server per shard), with `upgrade` a BlueGreenUpgrade per shard (one after the
 * other), ObjectStorage (the warehouse directory), IcebergCatalog (the SQL catalog on shard 0 and,
 * with `catalog.rest`, Apache Iceberg's REST catalog server over it), QueryEngines (chdb through
 * `floe query`: nothing to deploy), CdcWriter (one supervised process reading every shard,
 * committing through the REST server when there is one) and a Pooler (pgBouncer) whose entries
 * follow each shard's cutover.
 * DataPlatform (target "local") and LocalPlatform both compose it here.
 *
 * Names and parents are public contract: before the pieces existed, these processes were direct
 * children of a LocalPlatform (`<base>-postgres-0`, `<base>-pooler`, …). `legacyAliases` gives each
 * its old name and parent, so existing stacks keep their processes and data.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { BuildContext } from "../target";
import type { Validator } from "../errors";
import { LocalDirectory } from "../storage/localDirectory";
import { LocalRetiredServers } from "../upgrade/localRetired";
import type { BlueGreenUpgrade } from "../upgrade/blueGreenUpgrade";
import { slotName } from "../../runtime/cdc/config";
import type { DataPlatformArgs, LocalPlatformArgs } from "./args";
import type { PlatformBuild, PlatformPieces } from "./pieces";

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
    cdc: { tables: cdc.tables, commitIntervalMs: cdc.commitIntervalMs, formatVersion: cdc.formatVersion, maintenance: cdc.maintenance },
    // the local upgrade always runs in `pulumi up`; run, poolerAdminUrl, efsFileSystemId and image are for kubernetes and aws
    upgrade: args.upgrade ? { toVersion: args.upgrade.toVersion, budgetMs: args.upgrade.budgetMs, retireBlue: args.upgrade.retireBlue } : undefined,
  };
}

/** Where the processes were before the pieces: their old parent and the prefix of their old names. */
export interface LocalLegacy {
  /** The old parent: a LocalPlatform (the resource itself, or its URN). */
  parent: pulumi.Resource | pulumi.Input<string>;
  /** The old names' prefix (the LocalPlatform's name). */
  base: string;
}

/** Everything the local composition makes, for DataPlatform and LocalPlatform to expose. */
export interface LocalBuild extends PlatformBuild {
  root: LocalDirectory;
  retiredBlue?: LocalRetiredServers;
  adminConnectionString: pulumi.Output<string>;
  namespace: pulumi.Output<string>;
  cdcHealthUrl: pulumi.Output<string>;
  upgradeRollbackCommands: pulumi.Output<string[]>;
  /** http://127.0.0.1:<port> of the Iceberg REST catalog (undefined without `catalog.rest`). */
  restCatalogUri: pulumi.Output<string | undefined>;
  /** Its OAuth2 client credentials, "client_id:client_secret" (secret). */
  restCatalogCredential: pulumi.Output<string | undefined>;
}

/** The old name of a process the pieces now make (see the file comment), or undefined. */
export function legacyName(newName: string, base: string, legacy: LocalLegacy, toVersion?: number): string | undefined {
  if (!newName.startsWith(base + "-")) return undefined;
  const rest = newName.slice(base.length + 1);
  const o = legacy.base;
  let m: RegExpExecArray | null;
  if ((m = /^postgres-(\d+)$/.exec(rest))) return `${o}-postgres-${m[1]}`;
  if ((m = /^upgrade-(\d+)-green$/.exec(rest))) return `${o}-postgres-${m[1]}-v${toVersion}`;
  if ((m = /^upgrade-(\d+)-run$/.exec(rest))) return `${o}-upgrade-${m[1]}`;
  // catalog-rest is new (no old name)
  const fixed: Record<string, string> = {
    "pooler-pgbouncer": "pooler",
    "storage-warehouse": "warehouse",
    "catalog-sql": "catalog",
    "cdc-writer": "cdc",
    root: "root",
    "retired-blue": "retired-blue",
  };
  return fixed[rest] !== undefined ? `${o}-${fixed[rest]}` : undefined;
}

/**
 * A transformation for a piece's children (the local processes): their old name and parent as an
 * alias, and the resources they must wait for (the data directory: deleted last).
 */
function localChildren(base: string, legacy: LocalLegacy, dependsOn: pulumi.Resource[], toVersion?: number): pulumi.ResourceTransformation {
  return ({ type, name, props, opts }) => {
    if (!type.startsWith("pulumi-nodejs:dynamic/floe:")) return undefined;
    const old = legacyName(name, base, legacy, toVersion);
    const aliases = old ? [{ name: old, parent: legacy.parent }] : [];
    return { props, opts: pulumi.mergeOptions(opts, { aliases, dependsOn }) };
  };
}

/** Validation of the local platform's args (the same messages LocalPlatform always gave). */
export function checkLocalArgs(v: Validator, args: LocalPlatformArgs): void {
  if (typeof args.dataDir !== "string" || !path.isAbsolute(args.dataDir))
    v.fail("dataDir", args.dataDir, "must be an absolute path", 'pass e.g. path.resolve(".floe")');
  const pg = args.postgres ?? {};
  const shardCount = pg.shards ?? 1;
  if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > 16)
    v.fail("postgres.shards", shardCount, "must be an integer from 1 to 16", "use 1 for an unsharded database");
  const major = pg.version ?? 16;
  const up = args.upgrade;
  if (up === undefined) return;
  if (!Number.isInteger(up.toVersion) || up.toVersion < 14 || up.toVersion > 18) {
    v.fail("upgrade.toVersion", up.toVersion, "is not a Postgres major floe supports (14 to 18)", `set upgrade.toVersion to the new major, e.g. ${major + 1}`);
  }
  if (up.toVersion <= major) {
    v.fail(
      "upgrade.toVersion",
      up.toVersion,
      `is not newer than postgres.version (${major})`,
      `keep postgres.version at the running major and set upgrade.toVersion above it, e.g. ${major + 1}; remove upgrade to stay on ${major}`,
    );
  }
  if (major < 16) {
    v.fail(
      "postgres.version",
      major,
      "is older than 16: the CDC writer cannot follow the cutover (pgoutput's origin option needs Postgres 16 on blue)",
      "upgrade with `floe upgrade run` and restart the writer yourself, or start the platform at 16 or newer",
    );
  }
  v.int("upgrade.budgetMs", up.budgetMs, 1000, 0, 600_000);
}

/** The local platform from its args; `legacy` says where its processes used to live. */
export function composeLocal(make: PlatformPieces, v: Validator, args: LocalPlatformArgs, legacy: LocalLegacy): LocalBuild {
  checkLocalArgs(v, args);
  const { name, parent } = make;
  const pg = args.postgres ?? {};
  const shardCount = pg.shards ?? 1;
  const major = pg.version ?? 16;
  const up = args.upgrade;
  const database = pg.database ?? "app";
  const namespace = args.namespace ?? "floe";
  const catalogDb = "floe_catalog";
  const direct = (n: string) => (legacy.base === name ? {} : { aliases: [{ name: `${legacy.base}-${n}`, parent: legacy.parent }] });

  const root = new LocalDirectory(`${name}-root`, { path: args.dataDir }, { parent, ...direct("root") });
  const children = (...after: pulumi.Resource[]) => ({ transformations: [localChildren(name, legacy, [root, ...after], up?.toVersion)] });

  const postgres = make.postgres(
    {
      version: major,
      shards: shardCount,
      database,
      roles: { appUsername: pg.appUsername, replicationUsername: pg.replicationUsername, publication: pg.publication, extraDatabases: [catalogDb] },
      local: { dataDir: args.dataDir, port: pg.port, settings: pg.settings, retired: up?.retireBlue === true },
    },
    children(),
  );
  const shards = postgres.localServers;
  const first = shards[0];
  const adminUrl = (port: pulumi.Input<number>) => pulumi.interpolate`postgresql://${first.adminUsername}:${first.adminPassword}@127.0.0.1:${port}/${database}`;
  const poolerDir = path.join(args.dataDir, "pgbouncer");
  const entry = (i: number) => (i === 0 ? database : `${database}_shard${i}`);

  // The upgrade: a green server per shard and its cutover, one shard after the other; the pooler's
  // config, built last, follows where each cutover left its entries.
  const upgrades: BlueGreenUpgrade[] = [];
  if (up) {
    const passwords = pulumi
      .all([first.adminPassword, first.appPassword, first.replicationPassword])
      .apply(([admin, app, replication]) => ({ admin, app, replication }));
    for (let i = 0; i < shardCount; i++) {
      const prev = upgrades[i - 1];
      upgrades.push(
        make.upgrade(
          {
            toVersion: up.toVersion,
            database,
            blueUrl: adminUrl(shards[i].port),
            poolerAdminUrl: pulumi.interpolate`postgresql://${first.adminUsername}:${first.adminPassword}@127.0.0.1:0/pgbouncer`,
            budgetMs: up.budgetMs ?? 1000,
            cdc: { publication: shards[i].publication, slot: slotName({ name: `shard-${i}` } as Parameters<typeof slotName>[0]) },
            local: {
              dataDir: args.dataDir,
              greenDataDir: path.join(args.dataDir, `postgres-${i}-v${up.toVersion}`),
              statePath: path.join(args.dataDir, "upgrade", `shard-${i}-to-${up.toVersion}.json`),
              poolerDir,
              poolerDatabase: entry(i),
              poolerAliases: i === 0 ? [`${database}_shard0`] : [],
              // blue's passwords: clients, pgBouncer's user list and the writer keep theirs
              passwords,
              appUsername: pg.appUsername,
              replicationUsername: pg.replicationUsername,
              settings: pg.settings,
              // the SQL catalog moves to green's shard 0 when blue is retired
              extraDatabases: i === 0 ? [catalogDb] : [],
              retireBlue: up.retireBlue === true,
            },
          },
          children(...(prev ? [prev] : [])),
          `-${i}`,
        ),
      );
    }
  }
  // Retiring blue: the catalog and the writer's sources move to green once every cutover is
  // finished (the outputs gate them, so the catalog moves after the cleanups: by the REST server,
  // stopped meanwhile, or without it by the writer, the SQL catalog's only committer).
  const retire = up?.retireBlue === true;
  const finished = pulumi.all(upgrades.map((u) => u.phase));
  const gate = <T>(o: pulumi.Output<T>): pulumi.Output<T> => (retire ? pulumi.all([finished, o]).apply(([, x]) => x as T) : o);
  const greenPort = (i: number) => upgrades[i].greenUrl.apply((u) => Number(new URL(u).port));
  const homePort = (i: number) => (retire ? greenPort(i) : shards[i].port);

  const storage = make.storage({ local: { path: args.dataDir } }, children());
  const catalogUri = pulumi.secret(gate(pulumi.interpolate`postgresql://${first.adminUsername}:${first.adminPassword}@127.0.0.1:${homePort(0)}/${catalogDb}`));
  const ca = args.catalog ?? {};
  const rest = ca.rest ?? false;
  if (typeof rest !== "boolean")
    v.fail("catalog.rest", rest, "must be true or false", "pass true to run the Iceberg REST catalog server, or leave it unset for the SQL catalog alone");
  const restPort = v.int("catalog.port", ca.port, 0, 0, 65535);
  const catalog = make.catalog(
    {
      namespace,
      storage: { bucket: storage.bucket, warehouseLocation: storage.warehouseLocation },
      local: { uri: catalogUri, name: "floe", rest, restPort, dir: path.join(args.dataDir, "catalog") },
    },
    children(),
  );
  const query = make.query({ catalog: { uri: catalog.uri, warehouse: catalog.warehouse }, storage: { bucket: storage.bucket } });

  const c = args.cdc ?? {};
  // origin "none" (Postgres 16+): the writer reads only writes made on a server, not what
  // replication applied to it, which is what lets it follow a blue/green upgrade without duplicates.
  const origin = major >= 16 ? "none" : "any";
  const cdc = make.cdc(
    {
      sources: shards.map((_, i) => ({ name: `shard-${i}`, host: "127.0.0.1", port: gate(homePort(i)), origin })),
      database,
      replicationUsername: first.replicationUsername,
      replicationPassword: first.replicationPassword,
      // explicit (the runtime's default is the same): the writer's config stays what it was before the pieces
      publication: pg.publication ?? "floe",
      tables: c.tables,
      // through the REST server, as in production (the SQL catalog's rows are the same)
      catalog: rest
        ? { type: "rest", uri: catalog.restUri as pulumi.Output<string>, credential: catalog.restCredential as pulumi.Output<string> }
        : { type: "sql", uri: catalog.uri, name: "floe" },
      warehouseLocation: storage.warehouseLocation,
      namespace,
      commitIntervalMs: c.commitIntervalMs,
      formatVersion: c.formatVersion,
      maintenance: c.maintenance,
      local: { dir: path.join(args.dataDir, "cdc"), httpPort: c.httpPort },
    },
    { dependsOn: [catalog], ...children(catalog) },
  );
  const retiredBlue = retire
    ? new LocalRetiredServers(
        `${name}-retired-blue`,
        { servers: shards.map((s) => ({ dataDir: s.dataDir, major })), statePaths: upgrades.map((u) => u.statePath as pulumi.Output<string>) },
        { parent, dependsOn: [cdc, ...upgrades], ...direct("retired-blue") },
      )
    : undefined;

  const p = args.pooler ?? {};
  const pooler = make.pooler(
    {
      poolMode: p.poolMode,
      maxClientConnections: p.maxClientConnections,
      defaultPoolSize: p.defaultPoolSize,
      local: {
        dir: poolerDir,
        port: p.port ?? 0,
        databases: shards.flatMap((s, i) => {
          const port = up ? (upgrades[i].poolerPort as pulumi.Output<number>) : s.port;
          const db = { host: "127.0.0.1", port, dbname: database };
          return i === 0
            ? [
                { name: database, ...db },
                { name: `${database}_shard${i}`, ...db },
              ]
            : [{ name: `${database}_shard${i}`, ...db }];
        }),
        users: pulumi.all([first.appUsername, first.appPassword, first.adminUsername, first.adminPassword]).apply(([au, ap, su, sp]) => [
          { name: au, password: ap },
          { name: su, password: sp },
        ]),
        adminUsers: ["postgres"],
      },
    },
    children(),
  );
  const connectionString = pulumi.secret(pulumi.interpolate`postgresql://${first.appUsername}:${first.appPassword}@127.0.0.1:${pooler.port}/${database}`);
  // shard 0 where the pooler sends it: green once upgraded
  const servingPort = up ? (upgrades[0].poolerPort as pulumi.Output<number>) : first.port;
  return {
    root,
    postgres,
    pooler,
    storage,
    catalog,
    query,
    cdc,
    upgrades,
    retiredBlue,
    poolerEndpoint: pulumi.interpolate`127.0.0.1:${pooler.port}`,
    connectionString,
    connectionSecret: connectionString,
    catalogUri,
    warehouse: storage.warehouseLocation,
    warehouseLocation: storage.warehouseLocation,
    adminConnectionString: pulumi.secret(pulumi.interpolate`postgresql://${first.adminUsername}:${first.adminPassword}@127.0.0.1:${servingPort}/${database}`),
    namespace: pulumi.output(namespace),
    cdcHealthUrl: cdc.healthUrl as pulumi.Output<string>,
    restCatalogUri: catalog.restUri,
    restCatalogCredential: pulumi.secret(catalog.restCredential),
    upgradeStatePaths: pulumi.all(upgrades.map((u) => u.statePath as pulumi.Output<string>)),
    upgradeRollbackCommands: pulumi.secret(pulumi.all(upgrades.map((u) => u.rollbackCommand as pulumi.Output<string>))),
  };
}

/** DataPlatform's local wiring: the composition above, its processes aliased from the `<name>-local` LocalPlatform DataPlatform used to make. */
export function wireLocal(ctx: BuildContext<DataPlatformArgs>, make: PlatformPieces): LocalBuild {
  const { name, args, v, parent } = ctx;
  const oldParent = pulumi.createUrn(`${name}-local`, "floe:index:LocalPlatform", parent);
  return composeLocal(make, v, localPlatformArgs(args), { parent: oldParent, base: `${name}-local` });
}
