import * as pulumi from "@pulumi/pulumi";
import { dispatch, type BuildContext } from "../target";
import type { PostgresCluster } from "../postgres/postgresCluster";
import type { Pooler } from "../pooler/pooler";
import type { ObjectStorage } from "../storage/objectStorage";
import type { IcebergCatalog } from "../catalog/icebergCatalog";
import type { QueryEngines } from "../query/queryEngines";
import type { CdcWriter } from "../cdc/cdcWriter";
import type { BlueGreenUpgrade } from "../upgrade/blueGreenUpgrade";
import type { DataPlatformArgs } from "./args";
import { platformPieces, type PlatformBuild } from "./pieces";
import { wireKubernetes } from "./kubernetes";
import { wireAws } from "./aws";
import { wireLocal } from "./local";

export * from "./args";

/**
 * The whole platform for one target: object storage, Postgres (optionally sharded) with roles and
 * publication, a pooler, an Iceberg REST catalog, query engines on it, and the CDC writer between
 * Postgres and the catalog.
 *
 * Pass providers once (`{ providers: { kubernetes, aws } }`); every child inherits them.
 */
export class DataPlatform extends pulumi.ComponentResource {
  readonly target: string;
  readonly postgres: PostgresCluster;
  /** Undefined on aws when sharded (Aurora Limitless routes and pools connections itself). */
  readonly pooler?: Pooler;
  /** local: the warehouse directory. */
  readonly storage: ObjectStorage;
  /** Undefined when catalog.existingUri is set. local: the SQL catalog. */
  readonly catalog?: IcebergCatalog;
  /** local: chdb through `floe query`, nothing deployed. */
  readonly query: QueryEngines;
  readonly cdc: CdcWriter;
  /** host:port applications connect to (the pooler). */
  readonly poolerEndpoint: pulumi.Output<string>;
  /** Application connection string through the pooler (secret). */
  readonly connectionString: pulumi.Output<string>;
  /** Where that connection string is stored: a Kubernetes Secret name or a Secrets Manager ARN. */
  readonly connectionSecret: pulumi.Output<string>;
  /** The catalog's URI: its REST endpoint on kubernetes and aws; local: the SQL catalog's Postgres URL (secret). */
  readonly catalogUri: pulumi.Output<string>;
  /** The Iceberg REST endpoint engines attach to: `catalogUri` on kubernetes and aws; local: http://127.0.0.1:<port> of the REST server (undefined without the local REST server). */
  readonly restCatalogUri: pulumi.Output<string | undefined>;
  /** local: the REST server's OAuth2 client credentials, "client_id:client_secret" (secret). Undefined on kubernetes and aws. */
  readonly restCatalogCredential: pulumi.Output<string | undefined>;
  readonly warehouse: pulumi.Output<string>;
  /** s3://bucket/prefix of the Iceberg warehouse. */
  readonly warehouseLocation: pulumi.Output<string>;
  readonly trinoEndpoint: pulumi.Output<string | undefined>;
  readonly clickhouseEndpoint: pulumi.Output<string | undefined>;
  readonly athenaWorkgroup: pulumi.Output<string | undefined>;
  /** With `upgrade`: the blue/green upgrade (local: shard 0's; see `upgrades`). Undefined otherwise. */
  readonly upgrade?: BlueGreenUpgrade;
  /** With `upgrade`: one blue/green upgrade per shard on the local target, the one upgrade on kubernetes and aws. Empty otherwise. */
  readonly upgrades: BlueGreenUpgrade[];
  /** With `upgrade`: each shard's orchestrator state file on the local target; the state path inside the Job's claim (kubernetes) or on EFS (aws). Empty otherwise. */
  readonly upgradeStatePaths: pulumi.Output<string[]>;

  constructor(name: string, args: DataPlatformArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:DataPlatform", name, {}, opts);
    // The target decides how the pieces are wired (./kubernetes.ts, ./aws.ts, ./local.ts); each
    // piece is made once, by ./pieces.ts.
    let target = "";
    const wire =
      (fn: (ctx: BuildContext<DataPlatformArgs>, make: ReturnType<typeof platformPieces>) => PlatformBuild) => (ctx: BuildContext<DataPlatformArgs>) => {
        target = ctx.target;
        return fn(ctx, platformPieces(this, name, ctx.target));
      };
    const b = dispatch("DataPlatform", this, name, args.target, args, { kubernetes: wire(wireKubernetes), aws: wire(wireAws), local: wire(wireLocal) });
    this.target = target;
    this.postgres = b.postgres;
    this.pooler = b.pooler;
    this.storage = b.storage;
    this.catalog = b.catalog;
    this.query = b.query;
    this.cdc = b.cdc;
    this.upgrades = b.upgrades;
    this.upgrade = b.upgrades[0];
    this.poolerEndpoint = b.poolerEndpoint;
    this.connectionString = b.connectionString;
    this.connectionSecret = b.connectionSecret;
    this.catalogUri = b.catalogUri;
    this.restCatalogUri = b.restCatalogUri ?? b.catalogUri.apply((u) => u as string | undefined);
    this.restCatalogCredential = b.restCatalogCredential ?? pulumi.output(undefined);
    this.warehouse = b.warehouse;
    this.warehouseLocation = b.warehouseLocation;
    this.trinoEndpoint = b.query.trinoEndpoint;
    this.clickhouseEndpoint = b.query.clickhouseEndpoint;
    this.athenaWorkgroup = b.query.athenaWorkgroup;
    this.upgradeStatePaths = b.upgradeStatePaths;
    this.registerOutputs({
      poolerEndpoint: this.poolerEndpoint,
      connectionString: this.connectionString,
      connectionSecret: this.connectionSecret,
      catalogUri: this.catalogUri,
      restCatalogUri: this.restCatalogUri,
      restCatalogCredential: this.restCatalogCredential,
      warehouse: this.warehouse,
      warehouseLocation: this.warehouseLocation,
      trinoEndpoint: this.trinoEndpoint,
      clickhouseEndpoint: this.clickhouseEndpoint,
      athenaWorkgroup: this.athenaWorkgroup,
      upgradeStatePaths: this.upgradeStatePaths,
    });
  }
}
