/** The args of PostgresCluster and what every target's builder returns (no code: builders and the component import this). */
import type * as pulumi from "@pulumi/pulumi";
import type * as k8s from "@pulumi/kubernetes";
import type { LocalPostgresServer } from "./localServer";

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
  /** Secret (same namespace) whose `ca.crt` verifies an https `endpointUrl` (barman-cloud's endpointCA), e.g. ObjectStorage.caSecretName. Defaults to the public CAs. */
  endpointCaSecretName?: pulumi.Input<string>;
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
  /**
   * Postgres image. Defaults to "ghcr.io/cloudnative-pg/postgresql:<version>" up to 17 and
   * "ghcr.io/cloudnative-pg/postgresql:18-standard-trixie" for 18 (which has no barman-cloud: with
   * `backup` on 18, pass an image that has it).
   */
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
  /**
   * Aurora engine version. Defaults to the version floe has pinned for the major (16.6 for 16,
   * "16.6-limitless" when sharded); required for 18, for which floe pins none.
   */
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

export interface PostgresLocalArgs {
  /**
   * Absolute directory of the servers' data directories (`postgres-<shard>` inside). Defaults to
   * `.floe-<stack>/<name>` in the program's working directory.
   */
  dataDir?: string;
  /** Port of the first shard (the next shards take the next ports). Defaults to any free port, chosen once. */
  port?: number;
  /** Extra postgresql.conf settings; a change restarts the servers in place. Defaults to none. */
  settings?: Record<string, string>;
  /**
   * Blue of a finished local upgrade, retired (`upgrade.retireBlue` of the platform): the servers
   * are never started again, they keep their outputs. Defaults to false.
   */
  retired?: boolean;
}

export interface PostgresClusterArgs {
  /** Where it runs: "kubernetes", "aws" or "local". Defaults to "local". */
  target?: string;
  /** Postgres major version (14–18; on aws 18 needs `aws.engineVersion`). Defaults to 16. */
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
  /** Local-only settings. Defaults to the defaults of PostgresLocalArgs. */
  local?: PostgresLocalArgs;
}

/** A CDC source: one logical slot is read per source (one per shard). */
export interface PostgresSource {
  name: string;
  host: string;
  port: number;
  /** kubernetes: the Secret whose `ca.crt` signed the server's certificate (CloudNativePG's `<cluster>-ca`, or serverCASecret). */
  caSecretName?: string;
}

/** What every target's Postgres builder returns. */
export interface PostgresBuildResult {
  engine: string;
  host: pulumi.Output<string>;
  port: pulumi.Output<number>;
  database: pulumi.Output<string>;
  adminUsername: pulumi.Output<string>;
  adminPassword: pulumi.Output<string>;
  /** Host used to manage roles (may differ from `host` when Pulumi runs outside the network). */
  adminHost: pulumi.Input<string>;
  sources: pulumi.Output<PostgresSource[]>;
  /** CNPG Cluster name of the primary / coordinator (kubernetes). */
  clusterName: pulumi.Output<string | undefined>;
  namespace: pulumi.Output<string | undefined>;
  adminSecretName: pulumi.Output<string | undefined>;
  adminSecretArn: pulumi.Output<string | undefined>;
  clusterArn: pulumi.Output<string | undefined>;
  clusterIdentifier: pulumi.Output<string | undefined>;
  vpcId: pulumi.Output<string | undefined>;
  subnetIds: pulumi.Output<string[] | undefined>;
  securityGroupId: pulumi.Output<string | undefined>;
  rdsReplication: boolean;
  /** The roles when the target creates them itself (local: every server has them); else DatabaseRoles makes them. */
  roles?: PostgresRoles;
  /** local: the servers, one per shard. */
  localServers?: LocalPostgresServer[];
}

/** The roles inside Postgres (what DatabaseRoles creates, or what the local servers were created with). */
export interface PostgresRoles {
  readonly appUsername: pulumi.Output<string>;
  /** Secret. */
  readonly appPassword: pulumi.Output<string>;
  readonly replicationUsername: pulumi.Output<string>;
  /** Secret. */
  readonly replicationPassword: pulumi.Output<string>;
  readonly publication: pulumi.Output<string>;
  /** Extra database name → { username, password (secret) }. */
  readonly extraDatabases: pulumi.Output<Record<string, { username: string; password: string }>>;
}
