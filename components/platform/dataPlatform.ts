import { LocalPlatform } from "./localPlatform";
import { localPlatformArgs } from "./local";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as aws from "@pulumi/aws";
import { checkTarget } from "../target";
import { Validator } from "../errors";
import { PostgresCluster } from "../postgres/postgresCluster";
import { Pooler } from "../pooler/pooler";
import { ObjectStorage } from "../storage/objectStorage";
import { IcebergCatalog } from "../catalog/icebergCatalog";
import { QueryEngines } from "../query/queryEngines";
import { CdcWriter } from "../cdc/cdcWriter";
import { labels, pgUrl } from "../util";
import { BlueGreenUpgrade } from "../upgrade/blueGreenUpgrade";
import { slotName } from "../../runtime/cdc/config";
import type { DataPlatformArgs, DataPlatformCdcArgs } from "./args";

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
  /** The local target's processes (Postgres, pgBouncer, SQL catalog, CDC writer); undefined on kubernetes and aws. */
  readonly local?: LocalPlatform;
  /** Undefined on the local target (see `local`). */
  readonly postgres?: PostgresCluster;
  /** Undefined on aws when sharded (Aurora Limitless routes and pools connections itself). */
  readonly pooler?: Pooler;
  /** Undefined on the local target (a warehouse directory, see `local`). */
  readonly storage?: ObjectStorage;
  /** Undefined when catalog.existingUri is set. */
  readonly catalog?: IcebergCatalog;
  /** Undefined on the local target (chdb through `floe query`). */
  readonly query?: QueryEngines;
  /** Undefined on the local target (see `local.cdc`). */
  readonly cdc?: CdcWriter;
  /** host:port applications connect to (the pooler). */
  readonly poolerEndpoint: pulumi.Output<string>;
  /** Application connection string through the pooler (secret). */
  readonly connectionString: pulumi.Output<string>;
  /** Where that connection string is stored: a Kubernetes Secret name or a Secrets Manager ARN. */
  readonly connectionSecret: pulumi.Output<string>;
  readonly catalogUri: pulumi.Output<string>;
  readonly warehouse: pulumi.Output<string>;
  /** s3://bucket/prefix of the Iceberg warehouse. */
  readonly warehouseLocation: pulumi.Output<string>;
  readonly trinoEndpoint: pulumi.Output<string | undefined>;
  readonly clickhouseEndpoint: pulumi.Output<string | undefined>;
  readonly athenaWorkgroup: pulumi.Output<string | undefined>;
  /** kubernetes and aws with `upgrade`: the blue/green upgrade (green cluster, orchestrator Job or task). Undefined otherwise; local: see `local.upgrades`. */
  readonly upgrade?: BlueGreenUpgrade;
  /** With `upgrade`: each shard's orchestrator state file on the local target; the state path inside the Job's claim (kubernetes) or on EFS (aws). Empty otherwise. */
  readonly upgradeStatePaths: pulumi.Output<string[]>;

  constructor(name: string, args: DataPlatformArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:DataPlatform", name, {}, opts);
    const v = new Validator("DataPlatform", name);
    const target = checkTarget("DataPlatform", name, args.target);
    if (target === "local") {
      // The local target is one component of supervised processes (components/local), fed by the same args.
      this.target = target;
      const local = new LocalPlatform(`${name}-local`, localPlatformArgs(args), { parent: this });
      this.local = local;
      this.poolerEndpoint = local.poolerEndpoint;
      this.connectionString = local.connectionString;
      this.connectionSecret = pulumi.secret(local.connectionString);
      this.catalogUri = local.catalogUri;
      this.warehouse = local.warehouseLocation;
      this.warehouseLocation = local.warehouseLocation;
      this.trinoEndpoint = pulumi.output(undefined);
      this.clickhouseEndpoint = pulumi.output(undefined);
      this.athenaWorkgroup = pulumi.output(undefined);
      this.upgradeStatePaths = local.upgradeStatePaths;
      this.registerOutputs({
        poolerEndpoint: this.poolerEndpoint,
        connectionString: this.connectionString,
        catalogUri: this.catalogUri,
        warehouseLocation: this.warehouseLocation,
        upgradeStatePaths: this.upgradeStatePaths,
      });
      return;
    }
    for (const [k, a] of [["postgres", args.postgres], ["storage", args.storage]] as const) {
      if (a?.target !== undefined) v.fail(`${k}.target`, a.target, "is set on a piece of the platform", `remove it; the platform's target ("${target}") applies to every piece`);
    }
    if (args.postgres?.roles?.manage === false) {
      v.fail("postgres.roles.manage", false, "is not supported by the platform: the CDC writer needs the replication role and publication", "leave postgres.roles.manage unset, or compose the components yourself");
    }
    if (target === "aws" && (args.postgres?.shards ?? 1) > 1 && args.pooler?.poolMode !== undefined && args.pooler.poolMode !== "transaction") {
      v.fail("pooler.poolMode", args.pooler.poolMode, "cannot be applied to Aurora Limitless (its routers pool connections)", "remove pooler.poolMode");
    }
    this.checkUpgrade(v, target, args);
    this.target = target;
    const o = { parent: this };
    const pgArgs = args.postgres ?? {};
    const shards = pgArgs.shards ?? 1;
    const ro = pgArgs.roles ?? {};
    const cdc = args.cdc ?? {};
    const q = args.query ?? {};
    const cat = args.catalog ?? {};
    const byoCatalog = cat.existingUri !== undefined;
    if (byoCatalog && cat.existingWarehouse === undefined) {
      v.fail("catalog.existingWarehouse", undefined, "is required with catalog.existingUri", "pass the warehouse identifier of your catalog");
    }
    let cv!: { uri: pulumi.Output<string>; warehouse: pulumi.Output<string>; sigv4Service?: string; region?: pulumi.Input<string>; accessPolicyArn?: pulumi.Input<string> };

    if (target === "kubernetes") {
      const ns = v.dnsLabel("namespace", args.namespace ?? "floe");
      const nsRes = args.createNamespace ?? true ? new k8s.core.v1.Namespace(`${name}-ns`, { metadata: { name: ns, labels: labels("platform", name) } }, o) : undefined;
      const ko = { parent: this, dependsOn: nsRes ? [nsRes] : [] };
      this.storage = new ObjectStorage(`${name}-storage`, { ...args.storage, target, kubernetes: { ...args.storage?.kubernetes, namespace: ns } }, ko);
      this.postgres = new PostgresCluster(
        `${name}-postgres`,
        {
          ...pgArgs,
          target,
          roles: { ...ro, extraDatabases: [...(ro.extraDatabases ?? []), ...(byoCatalog ? [] : ["lakekeeper"])] },
          kubernetes: {
            ...pgArgs.kubernetes,
            namespace: ns,
            backup: pgArgs.kubernetes?.backup ?? {
              destinationPath: pulumi.interpolate`s3://${this.storage.bucket}/backups`,
              endpointUrl: this.storage.endpoint as pulumi.Output<string>,
              credentialsSecretName: this.storage.credentialsSecretName as pulumi.Output<string>,
            },
          },
        },
        ko,
      );
      const { implementation, configStorageClass, ...p } = args.pooler ?? {};
      this.pooler = new Pooler(
        `${name}-pooler`,
        {
          ...p,
          target,
          kubernetes: {
            namespace: ns,
            implementation,
            configStorageClass,
            clusterName: this.postgres.clusterName as pulumi.Output<string>,
            ...(implementation === "pgbouncer"
              ? { host: this.postgres.host, database: pgArgs.database ?? "app", users: [{ username: this.postgres.roles!.appUsername, password: this.postgres.roles!.appPassword }] }
              : {}),
          },
        },
        ko,
      );
      if (byoCatalog) {
        cv = { uri: pulumi.output(cat.existingUri!), warehouse: pulumi.output(cat.existingWarehouse!), sigv4Service: cat.existingSigv4Service };
      } else {
        const lk = this.postgres.roles!.extraDatabases.apply((d) => d["lakekeeper"]);
        this.catalog = new IcebergCatalog(
          `${name}-catalog`,
          {
            target,
            warehouse: cat.warehouse,
            namespace: cat.namespace,
            storage: { bucket: this.storage.bucket, endpoint: this.storage.endpoint as pulumi.Output<string>, region: this.storage.region, credentialsSecretName: this.storage.credentialsSecretName as pulumi.Output<string> },
            kubernetes: {
              namespace: ns,
              replicas: cat.replicas,
              helmValues: cat.helmValues,
              database: { host: this.postgres.host, port: this.postgres.port, database: "lakekeeper", username: lk.apply((x) => x.username), password: pulumi.secret(lk.apply((x) => x.password)) },
            },
          },
          ko,
        );
        cv = { uri: this.catalog!.uri, warehouse: this.catalog!.warehouse };
      }
      this.query = new QueryEngines(
        `${name}-query`,
        {
          target,
          trino: q.trino,
          clickhouse: q.clickhouse,
          athena: q.athena,
          catalog: { uri: cv.uri, warehouse: cv.warehouse, name: "floe" },
          storage: {
            bucket: this.storage.bucket,
            endpoint: this.storage.endpoint as pulumi.Output<string>,
            region: this.storage.region,
            credentialsSecretName: this.storage.credentialsSecretName as pulumi.Output<string>,
            accessKeyId: this.storage.accessKeyId as pulumi.Output<string>,
            secretAccessKey: this.storage.secretAccessKey as pulumi.Output<string>,
          },
          kubernetes: { ...q.kubernetes, namespace: ns },
          aws: q.aws,
        },
        ko,
      );
      this.cdc = new CdcWriter(
        `${name}-cdc`,
        {
          target,
          ...this.cdcCommon(shards, cdc, ro.publication ?? "floe"),
          storage: {
            endpoint: this.storage.endpoint as pulumi.Output<string>,
            region: this.storage.region,
            forcePathStyle: true,
            accessKeyId: this.storage.accessKeyId as pulumi.Output<string>,
            secretAccessKey: this.storage.secretAccessKey as pulumi.Output<string>,
          },
          catalog: { uri: cv.uri, warehouse: cv.warehouse, sigv4Service: cv.sigv4Service },
          kubernetes: { namespace: ns },
        },
        ko,
      );
      this.connectionString = pgUrl(this.postgres.roles!.appUsername, this.postgres.roles!.appPassword, this.pooler.host, this.pooler.port, this.postgres.database);
      const secret = new k8s.core.v1.Secret(
        `${name}-app-connection`,
        {
          metadata: { name: `${name}-app-connection`, namespace: ns, labels: labels("platform", name) },
          stringData: {
            uri: this.connectionString,
            host: this.pooler.host,
            port: this.pooler.port.apply(String),
            database: this.postgres.database,
            username: this.postgres.roles!.appUsername,
            password: this.postgres.roles!.appPassword,
          },
        },
        ko,
      );
      this.connectionSecret = secret.metadata.name;
    } else {
      this.storage = new ObjectStorage(`${name}-storage`, { ...args.storage, target }, o);
      this.postgres = new PostgresCluster(`${name}-postgres`, { ...pgArgs, target }, o);
      const limitless = this.postgres.engine === "aurora-limitless";
      if (!limitless) {
        const { implementation, configStorageClass, ...p } = args.pooler ?? {};
        if (implementation !== undefined || configStorageClass !== undefined) {
          v.fail("pooler.implementation", implementation, 'and pooler.configStorageClass apply to target "kubernetes" only', "remove them (on aws the pooler is RDS Proxy)");
        }
        this.pooler = new Pooler(
          `${name}-pooler`,
          {
            ...p,
            target,
            aws: {
              clusterIdentifier: this.postgres.clusterIdentifier as pulumi.Output<string>,
              secretArn: this.postgres.adminSecretArn as pulumi.Output<string>,
              subnetIds: this.postgres.subnetIds as pulumi.Output<string[]>,
              securityGroupIds: [this.postgres.securityGroupId as pulumi.Output<string>],
              kmsKeyArn: pgArgs.aws?.kmsKeyId,
            },
          },
          o,
        );
      }
      if (byoCatalog) {
        cv = { uri: pulumi.output(cat.existingUri!), warehouse: pulumi.output(cat.existingWarehouse!), sigv4Service: cat.existingSigv4Service, region: this.storage.region, accessPolicyArn: cat.existingAccessPolicyArn };
      } else {
        this.catalog = new IcebergCatalog(
          `${name}-catalog`,
          { target, warehouse: cat.warehouse, namespace: cat.namespace, storage: { bucket: this.storage.bucket, bucketArn: this.storage.bucketArn as pulumi.Output<string>, region: this.storage.region }, aws: { flavor: cat.awsFlavor } },
          o,
        );
        cv = { uri: this.catalog!.uri, warehouse: this.catalog!.warehouse, sigv4Service: this.catalog!.sigv4Service, region: this.catalog!.region, accessPolicyArn: this.catalog!.accessPolicyArn as pulumi.Output<string> };
      }
      this.query = new QueryEngines(
        `${name}-query`,
        { target, trino: q.trino, clickhouse: q.clickhouse, athena: q.athena, catalog: { uri: cv.uri, warehouse: cv.warehouse }, storage: { bucket: this.storage.bucket, region: this.storage.region }, aws: q.aws },
        o,
      );
      this.cdc = new CdcWriter(
        `${name}-cdc`,
        {
          target,
          ...this.cdcCommon(shards, cdc, ro.publication ?? "floe"),
          storage: { region: this.storage.region },
          catalog: { uri: cv.uri, warehouse: cv.warehouse, sigv4Service: cv.sigv4Service, region: cv.region },
          aws: {
            vpcId: this.postgres.vpcId as pulumi.Output<string>,
            subnetIds: this.postgres.subnetIds as pulumi.Output<string[]>,
            bucketArn: this.storage.bucketArn as pulumi.Output<string>,
            catalogPolicyArn: cv.accessPolicyArn,
            clusterArn: cdc.ecsClusterArn,
            cpu: cdc.cpu,
            memory: cdc.memory,
            postgresCidrBlocks: pgArgs.aws?.allowedCidrBlocks,
          },
        },
        o,
      );
      const host = this.pooler ? this.pooler.host : this.postgres.host;
      const port = this.pooler ? this.pooler.port : this.postgres.port;
      this.connectionString = pgUrl(this.postgres.roles!.appUsername, this.postgres.roles!.appPassword, host, port, this.postgres.database);
      const secret = new aws.secretsmanager.Secret(`${name}-app-connection`, { description: `floe ${name}: application connection (through the pooler)`, recoveryWindowInDays: 7 }, o);
      new aws.secretsmanager.SecretVersion(
        `${name}-app-connection`,
        {
          secretId: secret.id,
          secretString: pulumi.secret(
            pulumi
              .all([this.connectionString, host, port, this.postgres.database, this.postgres.roles!.appUsername, this.postgres.roles!.appPassword])
              .apply(([uri, h, po, d, u, pw]) => JSON.stringify({ uri, host: h, port: po, dbname: d, username: u, password: pw, engine: "postgres" })),
          ),
        },
        o,
      );
      this.connectionSecret = secret.arn;
    }
    if (args.upgrade) {
      const up = args.upgrade;
      const db = pgArgs.database ?? "app";
      const k = target === "kubernetes";
      this.upgrade = new BlueGreenUpgrade(
        `${name}-upgrade`,
        {
          target,
          toVersion: up.toVersion,
          database: db,
          blueUrl: pgUrl(this.postgres.adminUsername, this.postgres.adminPassword, this.postgres.host, this.postgres.port, db),
          poolerAdminUrl: k ? (this.pooler!.adminUrl as pulumi.Output<string>) : up.poolerAdminUrl!,
          budgetMs: up.budgetMs,
          run: up.run,
          image: up.image,
          // the writer's one source on an unsharded cluster is "primary" (cdcCommon)
          cdc: { publication: ro.publication ?? "floe", slot: slotName({ name: "primary" } as Parameters<typeof slotName>[0]) },
          // the pooler logs in to green as the app role, the CDC writer as the replication role
          roles: [
            { username: this.postgres.roles!.appUsername, password: this.postgres.roles!.appPassword },
            { username: this.postgres.roles!.replicationUsername, password: this.postgres.roles!.replicationPassword, replication: true },
          ],
          kubernetes: k ? { namespace: args.namespace ?? "floe", poolerConfigClaim: this.pooler!.configClaim as pulumi.Output<string> } : undefined,
          aws: k
            ? undefined
            : {
                vpcId: this.postgres.vpcId as pulumi.Output<string>,
                subnetIds: this.postgres.subnetIds as pulumi.Output<string[]>,
                securityGroupIds: [this.postgres.securityGroupId as pulumi.Output<string>],
                efsFileSystemId: up.efsFileSystemId,
                kmsKeyId: pgArgs.aws?.kmsKeyId,
              },
        },
        { parent: this, dependsOn: [this.cdc] },
      );
      this.upgradeStatePaths = pulumi.output([k ? "/state/floe-upgrade-state.json" : "/pooler/floe-upgrade-state.json"]);
    } else {
      this.upgradeStatePaths = pulumi.output([]);
    }
    const host = this.pooler ? this.pooler.host : this.postgres.host;
    const port = this.pooler ? this.pooler.port : this.postgres.port;
    this.poolerEndpoint = pulumi.interpolate`${host}:${port}`;
    this.catalogUri = cv.uri;
    this.warehouse = cv.warehouse;
    this.warehouseLocation = this.storage.warehouseLocation;
    this.trinoEndpoint = this.query.trinoEndpoint;
    this.clickhouseEndpoint = this.query.clickhouseEndpoint;
    this.athenaWorkgroup = this.query.athenaWorkgroup;
    this.registerOutputs({
      poolerEndpoint: this.poolerEndpoint,
      connectionString: this.connectionString,
      connectionSecret: this.connectionSecret,
      catalogUri: this.catalogUri,
      warehouse: this.warehouse,
      warehouseLocation: this.warehouseLocation,
      trinoEndpoint: this.trinoEndpoint,
      clickhouseEndpoint: this.clickhouseEndpoint,
      athenaWorkgroup: this.athenaWorkgroup,
      upgradeStatePaths: this.upgradeStatePaths,
    });
  }

  /** The upgrade setting against what kubernetes and aws can cut over (the local target checks its own). */
  private checkUpgrade(v: Validator, target: string, args: DataPlatformArgs): void {
    const up = args.upgrade;
    if (!up) return;
    const from = args.postgres?.version ?? 16;
    if (!Number.isInteger(up.toVersion) || up.toVersion <= from) {
      v.fail("upgrade.toVersion", up.toVersion, `is not newer than postgres.version (${from})`, `keep postgres.version at the running major and set upgrade.toVersion above it, e.g. ${from + 1}`);
    }
    if (up.retireBlue) {
      v.fail("upgrade.retireBlue", true, `applies to the local target only (on ${target}, blue is the platform's own cluster)`, "remove it; retire blue yourself after `floe upgrade cleanup`");
    }
    if ((args.postgres?.shards ?? 1) > 1) {
      v.fail("upgrade", `{ toVersion: ${up.toVersion} }`, `is not supported for a sharded cluster on ${target} yet (Citus / Aurora Limitless upgrade through their own procedures)`, "remove upgrade, or upgrade each shard with `floe upgrade run`");
    }
    if (target === "kubernetes" && args.pooler?.implementation !== "pgbouncer") {
      v.fail("pooler.implementation", args.pooler?.implementation, 'is not "pgbouncer": the cutover PAUSEs pgBouncer and rewrites its pgbouncer.ini, which the CNPG Pooler does not expose', 'set pooler.implementation: "pgbouncer" (a pgBouncer Deployment with its config on a ReadWriteMany claim) before adding upgrade');
    }
    if (target === "aws") {
      if (up.poolerAdminUrl === undefined) v.fail("upgrade.poolerAdminUrl", undefined, "is required on aws: RDS Proxy has no PAUSE, so the cutover needs a pgBouncer in front of Aurora", "pass the admin console URL of your pgBouncer (postgres://user:password@host:port/pgbouncer), or use RDS Blue/Green Deployments");
      if (up.efsFileSystemId === undefined) v.fail("upgrade.efsFileSystemId", undefined, "is required on aws: the orchestrator task rewrites that pgBouncer's pgbouncer.ini", "pass the EFS file system that holds pgbouncer.ini");
    }
  }

  private cdcCommon(shards: number, cdc: DataPlatformCdcArgs, publication: string) {
    const postgres = this.postgres;
    const storage = this.storage;
    if (!postgres?.roles || !storage) throw new Error("DataPlatform: postgres roles and storage are required"); // checked in the constructor
    // Source names are known at construction (one per shard); hosts come from the cluster.
    const names = postgres.engine === "cnpg-citus" ? Array.from({ length: shards }, (_, i) => `shard-${i}`) : [postgres.engine === "aurora-limitless" ? "limitless" : "primary"];
    return {
      image: cdc.image,
      tables: cdc.tables,
      commitIntervalMs: cdc.commitIntervalMs,
      sources: names.map((n, i) => ({ name: n, host: postgres.sources.apply((s) => s[i].host), port: postgres.sources.apply((s) => s[i].port) })),
      database: postgres.database,
      replicationUsername: postgres.roles.replicationUsername,
      replicationPassword: postgres.roles.replicationPassword,
      publication,
      warehouseLocation: storage.warehouseLocation,
    };
  }
}
