/**
 * The platform's pieces, each constructed in this one place: the per-target wiring
 * (./kubernetes.ts, ./aws.ts, ./local.ts) decides their args and their order, never how they are
 * made. Children are named `${name}-<piece>` and parented to the platform.
 */
import * as pulumi from "@pulumi/pulumi";
import { PostgresCluster, type PostgresClusterArgs } from "../postgres/postgresCluster";
import { Pooler, type PoolerArgs } from "../pooler/pooler";
import { ObjectStorage, type ObjectStorageArgs } from "../storage/objectStorage";
import { IcebergCatalog, type IcebergCatalogArgs } from "../catalog/icebergCatalog";
import { QueryEngines, type QueryEnginesArgs } from "../query/queryEngines";
import { CdcWriter, type CdcWriterArgs } from "../cdc/cdcWriter";
import { BlueGreenUpgrade, type BlueGreenUpgradeArgs } from "../upgrade/blueGreenUpgrade";

type Opts = pulumi.ComponentResourceOptions;
type NoTarget<A> = Omit<A, "target">;

/** One factory per piece, bound to the platform (its name, target and parent). */
export interface PlatformPieces {
  name: string;
  target: string;
  parent: pulumi.ComponentResource;
  storage(args: NoTarget<ObjectStorageArgs>, opts?: Opts): ObjectStorage;
  postgres(args: NoTarget<PostgresClusterArgs>, opts?: Opts): PostgresCluster;
  pooler(args: NoTarget<PoolerArgs>, opts?: Opts): Pooler;
  catalog(args: NoTarget<IcebergCatalogArgs>, opts?: Opts): IcebergCatalog;
  query(args: NoTarget<QueryEnginesArgs>, opts?: Opts): QueryEngines;
  cdc(args: NoTarget<CdcWriterArgs>, opts?: Opts): CdcWriter;
  /** `suffix` tells several upgrades apart (the local target upgrades each shard: "-0", "-1", …). */
  upgrade(args: NoTarget<BlueGreenUpgradeArgs>, opts?: Opts, suffix?: string): BlueGreenUpgrade;
}

export function platformPieces(parent: pulumi.ComponentResource, name: string, target: string, common: Opts = {}): PlatformPieces {
  const o = (opts: Opts = {}): Opts => ({ ...common, ...opts, parent });
  return {
    name,
    target,
    parent,
    storage: (args, opts) => new ObjectStorage(`${name}-storage`, { ...args, target }, o(opts)),
    postgres: (args, opts) => new PostgresCluster(`${name}-postgres`, { ...args, target }, o(opts)),
    pooler: (args, opts) => new Pooler(`${name}-pooler`, { ...args, target }, o(opts)),
    catalog: (args, opts) => new IcebergCatalog(`${name}-catalog`, { ...args, target }, o(opts)),
    query: (args, opts) => new QueryEngines(`${name}-query`, { ...args, target }, o(opts)),
    cdc: (args, opts) => new CdcWriter(`${name}-cdc`, { ...args, target }, o(opts)),
    upgrade: (args, opts, suffix = "") => new BlueGreenUpgrade(`${name}-upgrade${suffix}`, { ...args, target }, o(opts)),
  };
}

/** What every target's wiring returns: the pieces and the platform's outputs. */
export interface PlatformBuild {
  postgres: PostgresCluster;
  pooler?: Pooler;
  storage: ObjectStorage;
  catalog?: IcebergCatalog;
  query: QueryEngines;
  cdc: CdcWriter;
  upgrades: BlueGreenUpgrade[];
  poolerEndpoint: pulumi.Output<string>;
  connectionString: pulumi.Output<string>;
  connectionSecret: pulumi.Output<string>;
  catalogUri: pulumi.Output<string>;
  /** The Iceberg REST endpoint when it is not `catalogUri` (local: the REST server over the SQL catalog). Defaults to `catalogUri`. */
  restCatalogUri?: pulumi.Output<string | undefined>;
  /** local: the REST server's OAuth2 client credentials (secret). Defaults to undefined. */
  restCatalogCredential?: pulumi.Output<string | undefined>;
  warehouse: pulumi.Output<string>;
  warehouseLocation: pulumi.Output<string>;
  upgradeStatePaths: pulumi.Output<string[]>;
}
