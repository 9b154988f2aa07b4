import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { dispatch, localNotYetAvailable } from "../target";
import { DatabaseRoles } from "./databaseRoles";
import { buildKubernetesPostgres } from "./kubernetes";
import { buildAwsPostgres } from "./aws";
import type { PostgresBuildResult, PostgresSource } from "./types";
import { pgUrl } from "../util";

/** Roles and objects created inside Postgres (see DatabaseRoles). */
export interface PostgresRolesArgs {
  /** Create the roles and the publication through @pulumi/postgresql. Defaults to true. */
  manage?: boolean;
  /** Application role. Defaults to "app". */
  appUsername?: string;
  /** CDC writer's replication role. Defaults to "floe_replication". */
  replicationUsername?: string;
  /** Publication the CDC writer reads. Defaults to "floe". */
  publication?: string;
  /** Tables in the publication as "schema.table". Defaults to every table. */
  publicationTables?: string[];
  /** Extra databases with an owner role each (the platform adds the catalog's). Defaults to none. */
  extraDatabases?: string[];
  /**
   * Host through which Pulumi reaches the primary to manage roles (a port-forward, a bastion, a
   * load balancer). Defaults to the cluster's own primary endpoint.
   */
  adminHost?: pulumi.Input<string>;
  /** Port that goes with `adminHost`. Defaults to 5432. */
  adminPort?: pulumi.Input<number>;
}

/** Backups of the CNPG clusters to an S3-compatible object store (barman-cloud). */
export interface PostgresBackupArgs {
  /** Base path, e.g. "s3://my-bucket/backups"; each cluster writes under its own name. Required. */
  destinationPath: pulumi.Input<string>;
  /** S3 endpoint URL for MinIO and other non-AWS stores. Defaults to AWS S3. */
  endpointUrl?: pulumi.Input<string>;
  /** Secret (same namespace) with keys ACCESS_KEY_ID and ACCESS_SECRET_KEY. Required. */
  credentialsSecretName: pulumi.Input<string>;
  /** Barman retention policy. Defaults to "30d". */
  retentionPolicy?: pulumi.Input<string>;
  /** Six-field cron schedule of the base backup. Defaults to "0 0 3 * * *" (daily 03:00). */
  schedule?: pulumi.Input<string>;
}

export interface PostgresKubernetesArgs {
  /** Namespace of the Cluster resources (must exist). Defaults to "floe". */
  namespace?: string;
  /** Install the CloudNativePG operator (Helm). Set false when the operator already runs. Defaults to true. */
  installOperator?: boolean;
  /** Version of the cloudnative-pg Helm chart. Defaults to "0.26.1". */
  operatorChartVersion?: pulumi.Input<string>;
  /** Postgres image. Defaults to "ghcr.io/cloudnative-pg/postgresql:<version>". */
  imageName?: pulumi.Input<string>;
  /**
   * CNPG-compatible Postgres image with the citus extension. Required when shards > 1 (there is no
   * official one: build FROM ghcr.io/cloudnative-pg/postgresql and add the citus packages).
   */
  citusImage?: pulumi.Input<string>;
  /** StorageClass of the data volumes. Defaults to the cluster's default class. */
  storageClass?: pulumi.Input<string>;
  /** Size of each instance's data volume. Defaults to "20Gi". */
  storageSize?: pulumi.Input<string>;
  /** Resources of each instance. Defaults to requests cpu 500m / memory 1Gi, limit memory 2Gi. */
  resources?: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
  /** Backups to an object store. Defaults to none (DataPlatform wires its object storage here). */
  backup?: PostgresBackupArgs;
  /** Secret with the server certificate (kubernetes.io/tls). Defaults to a CNPG-issued certificate. */
  serverTLSSecret?: pulumi.Input<string>;
  /** Secret with the CA of `serverTLSSecret`. Defaults to the CNPG-generated CA. */
  serverCASecret?: pulumi.Input<string>;
  /** Escape hatch merged last into every Cluster's `spec`. Defaults to none. */
  spec?: Record<string, unknown>;
}

export interface PostgresAwsArgs {
  /** Existing VPC. Defaults to a new VPC with two private subnets (then `subnetIds` must be unset). */
  vpcId?: pulumi.Input<string>;
  /** Existing subnets (at least two, in different AZs). Required with `vpcId`. */
  subnetIds?: pulumi.Input<string>[];
  /** CIDR of the VPC floe creates. Defaults to "10.42.0.0/16". */
  vpcCidr?: string;
  /** CIDRs allowed to reach Postgres on 5432. Defaults to the VPC's CIDR. 0.0.0.0/0 is refused. */
  allowedCidrBlocks?: string[];
  /** Instance class of the Aurora instances. Defaults to "db.r6g.large". */
  instanceClass?: pulumi.Input<string>;
  /** Aurora engine version. Defaults to "16.6" ("16.6-limitless" when sharded). */
  engineVersion?: pulumi.Input<string>;
  /** KMS key for storage and the credentials secret. Defaults to the AWS-managed keys. */
  kmsKeyId?: pulumi.Input<string>;
  /** Days of automated backups. Defaults to 7. */
  backupRetentionDays?: number;
  /** Protect the cluster from deletion. Defaults to true. */
  deletionProtection?: pulumi.Input<boolean>;
  /** Maximum ACUs of the Limitless shard group (sharded only; at least 16). Defaults to 64. */
  limitlessMaxAcu?: number;
}

export interface PostgresClusterArgs {
  /** Where it runs: "kubernetes", "aws" or "local". Defaults to "local". */
  target?: string;
  /** Postgres major version (14–17). Defaults to 16. */
  version?: number;
  /** Number of shards; 1 means not sharded (Citus on kubernetes, Aurora Limitless on aws). Defaults to 1. */
  shards?: number;
  /** Instances per cluster (primary + standbys; on kubernetes per shard). Defaults to 2. */
  instances?: number;
  /** Application database. Defaults to "app". */
  database?: string;
  /** Logical replication slots to size the server for (CDC writers, upgrades). Defaults to 8. */
  replicationSlots?: number;
  /** Roles, publication and extra databases. Defaults to managed, with the defaults of PostgresRolesArgs. */
  roles?: PostgresRolesArgs;
  /** Kubernetes-only settings. Defaults to the defaults of PostgresKubernetesArgs. */
  kubernetes?: PostgresKubernetesArgs;
  /** AWS-only settings. Defaults to the defaults of PostgresAwsArgs (a new VPC). */
  aws?: PostgresAwsArgs;
}

/**
 * A Postgres cluster ready for logical replication (wal_level=logical, slots and WAL senders sized
 * for the CDC writer), optionally sharded, with the application and replication roles and the
 * publication the CDC writer reads.
 *
 * - kubernetes: CloudNativePG (operator via Helm, optional) + `Cluster` resources; sharded: Citus on
 *   CNPG (a coordinator cluster and one cluster per shard, registered by a Job).
 * - aws: Aurora PostgreSQL with `rds.logical_replication=1`; sharded: Aurora Limitless (ShardGroup).
 */
export class PostgresCluster extends pulumi.ComponentResource {
  /** "cnpg", "cnpg-citus", "aurora" or "aurora-limitless". */
  readonly engine: string;
  /** Primary / coordinator endpoint (direct, not through the pooler). */
  readonly host: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  readonly database: pulumi.Output<string>;
  readonly adminUsername: pulumi.Output<string>;
  /** Secret. */
  readonly adminPassword: pulumi.Output<string>;
  /** One CDC source per shard (the primary when not sharded). */
  readonly sources: pulumi.Output<PostgresSource[]>;
  /** Roles inside Postgres; undefined when `roles.manage` is false. */
  readonly roles?: DatabaseRoles;
  /** Application connection string (direct), secret; undefined when roles are not managed. */
  readonly connectionString: pulumi.Output<string | undefined>;
  /** kubernetes: CNPG Cluster of the primary / coordinator. */
  readonly clusterName: pulumi.Output<string | undefined>;
  /** kubernetes: namespace of the clusters. */
  readonly namespace: pulumi.Output<string | undefined>;
  /** kubernetes: Secret with the superuser credentials. */
  readonly adminSecretName: pulumi.Output<string | undefined>;
  /** aws: Secrets Manager secret with the admin credentials. */
  readonly adminSecretArn: pulumi.Output<string | undefined>;
  /** aws: cluster ARN / identifier. */
  readonly clusterArn: pulumi.Output<string | undefined>;
  readonly clusterIdentifier: pulumi.Output<string | undefined>;
  /** aws: network the cluster lives in (created or passed in). */
  readonly vpcId: pulumi.Output<string | undefined>;
  readonly subnetIds: pulumi.Output<string[] | undefined>;
  readonly securityGroupId: pulumi.Output<string | undefined>;

  constructor(name: string, args: PostgresClusterArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:PostgresCluster", name, {}, opts);
    const r: PostgresBuildResult = dispatch("PostgresCluster", this, name, args.target, args, {
      kubernetes: buildKubernetesPostgres,
      aws: buildAwsPostgres,
      local: localNotYetAvailable("PostgresCluster"),
    });
    this.engine = r.engine;
    this.host = r.host;
    this.port = r.port;
    this.database = r.database;
    this.adminUsername = r.adminUsername;
    this.adminPassword = pulumi.secret(r.adminPassword);
    this.sources = r.sources;
    this.clusterName = r.clusterName;
    this.namespace = r.namespace;
    this.adminSecretName = r.adminSecretName;
    this.adminSecretArn = r.adminSecretArn;
    this.clusterArn = r.clusterArn;
    this.clusterIdentifier = r.clusterIdentifier;
    this.vpcId = r.vpcId;
    this.subnetIds = r.subnetIds;
    this.securityGroupId = r.securityGroupId;

    const ro = args.roles ?? {};
    if (ro.manage ?? true) {
      this.roles = new DatabaseRoles(
        `${name}-roles`,
        {
          host: ro.adminHost ?? r.adminHost,
          port: ro.adminPort ?? r.port,
          database: r.database,
          adminUsername: r.adminUsername,
          adminPassword: this.adminPassword,
          appUsername: ro.appUsername,
          replicationUsername: ro.replicationUsername,
          publication: ro.publication,
          publicationTables: ro.publicationTables,
          extraDatabases: ro.extraDatabases,
          rdsReplication: r.rdsReplication,
        },
        { parent: this },
      );
      this.connectionString = pgUrl(this.roles.appUsername, this.roles.appPassword, r.host, r.port, r.database);
    } else {
      this.connectionString = pulumi.output(undefined);
    }
    this.registerOutputs({
      engine: this.engine,
      host: this.host,
      port: this.port,
      database: this.database,
      adminUsername: this.adminUsername,
      adminPassword: this.adminPassword,
      sources: this.sources,
      connectionString: this.connectionString,
      clusterName: this.clusterName,
      namespace: this.namespace,
      adminSecretName: this.adminSecretName,
      adminSecretArn: this.adminSecretArn,
      clusterArn: this.clusterArn,
      vpcId: this.vpcId,
      subnetIds: this.subnetIds,
      securityGroupId: this.securityGroupId,
    });
  }
}
