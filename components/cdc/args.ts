/** The args of CdcWriter and what every target's builder returns. */
import type * as pulumi from "@pulumi/pulumi";
import type * as k8s from "@pulumi/kubernetes";

/** Default image of the floe runtime (the `floe` CLI; `floe cdc run --config FILE`). */
export const DEFAULT_IMAGE = "ghcr.io/floe-data/floe:0.1.0";

/** One Postgres source; one writer (one logical slot) runs per source. */
export interface CdcSourceArgs {
  /** Stable name, part of the LSN key stored in Iceberg (e.g. "primary", "shard-0"). Required. */
  name: string;
  /** Host of the source (direct, not through pgBouncer: replication cannot be pooled). Required. */
  host: pulumi.Input<string>;
  /** Defaults to 5432. */
  port?: pulumi.Input<number>;
  /** Replication slot. Defaults to floe_<name>. */
  slot?: string;
  /**
   * "none" reads only writes made on this source, not what replication applied to it (Postgres 16+,
   * what lets the writer follow a blue/green upgrade without duplicates) or "any". Defaults to the runtime's ("any").
   */
  origin?: string;
  /**
   * kubernetes: a Secret in the writer's namespace whose `ca.crt` is the CA that signed this
   * source's server certificate (CloudNativePG's `<cluster>-ca`, or the cluster's serverCASecret).
   * Mounted read-only in the source's writer and used as its sslrootcert. Defaults to none (the
   * CA then comes from `sslrootcert`, else the public CAs).
   */
  caSecretName?: pulumi.Input<string>;
}

/** A table to replicate. */
export interface CdcTableArgs {
  /** "schema.table". Required. */
  source: string;
  /** "mirror" (the Iceberg table equals the Postgres table) or "changelog" (append-only). Defaults to "mirror". */
  mode?: string;
  /** Iceberg table name. Defaults to the source table's name. */
  target?: string;
  /** Iceberg format version when the writer creates this table (2 or 3; fixed at creation). Defaults to the writer's formatVersion. */
  formatVersion?: number;
  /** Maintenance overrides for this table, on top of the writer's maintenance. Defaults to none. */
  maintenance?: CdcMaintenanceArgs;
}

/**
 * Table maintenance, run by the writer between its commits (docs/maintenance.md: the defaults and
 * why). Every field defaults to the runtime's policy (runtime/iceberg/maintenance-plan.ts).
 */
export interface CdcMaintenanceArgs {
  /** Run maintenance in the writer. Defaults to true, and to false when the catalog is S3 Tables (which maintains its tables itself). */
  enabled?: boolean;
  /** Compacted files aim at this size. Defaults to 128 MiB. */
  targetFileBytes?: number;
  /** Files merged at once per size tier. Defaults to 4. */
  minInputFiles?: number;
  /** Live bytes of the smallest size tier. Defaults to 1 MiB. */
  tierBaseBytes?: number;
  /** A data file is rewritten without its deleted rows once this fraction is deleted. Defaults to 0.1. */
  deleteRatio?: number;
  /** A partition that fits in one target-size file is rewritten into one file once its deleted rows plus the rows outside its largest file reach this fraction of its rows. Defaults to 0.05. */
  convergeRatio?: number;
  /** v2 tables: position delete files per data file before they are merged. Defaults to 1. */
  maxDeleteFilesPerDataFile?: number;
  /** Manifests of a snapshot before they are merged. Defaults to 4. */
  maxManifests?: number;
  /** Snapshots kept, newest first. Defaults to 5. */
  keepSnapshots?: number;
  /** Snapshots older than this (ms) are expired (never the current one). Defaults to 7 days. */
  maxSnapshotAgeMs?: number;
  /** Data and delete files only expired snapshots referenced are deleted this long (ms) after the expiry, for queries planned before it. Defaults to 5 s. */
  expiredFileGraceMs?: number;
  /** Unreferenced files are deleted once older than this (ms). Defaults to 3 days. */
  orphanMinAgeMs?: number;
  /** Time between orphan scans (ms). Defaults to 1 day. */
  orphanIntervalMs?: number;
}

export interface CdcCatalogArgs {
  /** "rest" (an Iceberg REST catalog) or "sql" (Iceberg's JDBC catalog schema in Postgres, the local target's). Defaults to "rest". */
  type?: string;
  /** REST catalog base URI, or the SQL catalog's Postgres URL (pass a secret). Required. */
  uri: pulumi.Input<string>;
  /** sql: catalog_name of the tables. Defaults to "floe". */
  name?: string;
  /** Warehouse identifier. Defaults to none. */
  warehouse?: pulumi.Input<string>;
  /** SigV4 signing service for AWS catalogs ("glue" or "s3tables"). Defaults to none (no signing). */
  sigv4Service?: string;
  /** Region for SigV4. Defaults to "us-east-1". */
  region?: pulumi.Input<string>;
  /** OAuth2 "client_id:client_secret" (pass a secret). Defaults to none. */
  credential?: pulumi.Input<string>;
  /**
   * kubernetes: a Secret whose `ca.crt` the writer trusts for an https catalog `uri` (mounted; the
   * config's catalog.caFile), e.g. IcebergCatalog.caSecretName. Defaults to the public CAs.
   */
  caSecretName?: pulumi.Input<string>;
  /**
   * kubernetes: send the writer's projected service-account token, issued for this audience and
   * re-read as the kubelet rotates it (the config's catalog.tokenFile), e.g.
   * IcebergCatalog.tokenAudience for Lakekeeper's Kubernetes authentication. Defaults to none.
   */
  tokenAudience?: pulumi.Input<string>;
}

export interface CdcStorageArgs {
  /** S3 endpoint for MinIO etc. Defaults to AWS S3. */
  endpoint?: pulumi.Input<string>;
  /** Defaults to "us-east-1". */
  region?: pulumi.Input<string>;
  /** Path-style addressing (MinIO). Defaults to false. */
  forcePathStyle?: boolean;
  /** kubernetes: access key. Defaults to the pod's ambient credentials. */
  accessKeyId?: pulumi.Input<string>;
  /** kubernetes: secret key (pass a secret). Defaults to the pod's ambient credentials. */
  secretAccessKey?: pulumi.Input<string>;
  /** kubernetes: a Secret whose `ca.crt` the writer trusts for an https `endpoint` (mounted; the config's storage.caFile), e.g. ObjectStorage.caSecretName. Defaults to the public CAs. */
  caSecretName?: pulumi.Input<string>;
}

export interface CdcWriterKubernetesArgs {
  /** Namespace (must exist). Defaults to "floe". */
  namespace?: string;
  /** Resources of each writer. Defaults to requests cpu 1 / memory 1Gi, limit memory 2Gi (the pipeline needs one core). */
  resources?: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
  /** TCP ports the writer may reach (Postgres, catalog, object store, DNS). Defaults to 5432, 8181, 8443, 9000, 443, 53. */
  egressPorts?: number[];
  /**
   * Declare the writer's own NetworkPolicy (egress on `egressPorts` to any address). Set false when
   * the namespace's policies are managed elsewhere (DataPlatform declares exact ones). Defaults to true.
   */
  networkPolicy?: boolean;
}

export interface CdcWriterAwsArgs {
  /** VPC of the tasks. Required. */
  vpcId: pulumi.Input<string>;
  /** Private subnets of the tasks. Required. */
  subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  /** ARN of the warehouse bucket; the task role gets access to it only. Required. */
  bucketArn: pulumi.Input<string>;
  /** IAM policy with the catalog access (IcebergCatalog.accessPolicyArn). Defaults to none. */
  catalogPolicyArn?: pulumi.Input<string>;
  /** Existing ECS cluster. Defaults to a new cluster. */
  clusterArn?: pulumi.Input<string>;
  /** CIDRs of the Postgres sources (egress 5432). Defaults to the VPC's CIDR. */
  postgresCidrBlocks?: string[];
  /** Fargate CPU units. Defaults to 2048. */
  cpu?: number;
  /** Fargate memory (MiB). Defaults to 4096. */
  memory?: number;
  /** Days of CloudWatch logs. Defaults to 30. */
  logRetentionDays?: number;
  /**
   * How the tasks reach the AWS APIs on 443: "create" (floe creates an S3 gateway endpoint and
   * interface endpoints for Glue, STS, Secrets Manager, CloudWatch Logs and ECR in `subnetIds`, and
   * egress on 443 goes only to them), "existing" (the VPC already has those endpoints: egress on 443
   * to the VPC's CIDR and to the S3 prefix list), or "internet" (egress on 443 to 0.0.0.0/0 through
   * your NAT). With "create" or "existing" the image must come from ECR in the same region (a
   * pull-through cache or a copy): the tasks cannot reach another registry. Defaults to "create".
   */
  vpcEndpoints?: string;
  /** Route tables the S3 gateway endpoint is added to ("create"). Defaults to the VPC's main route table. */
  routeTableIds?: pulumi.Input<pulumi.Input<string>[]>;
}

export interface CdcWriterLocalArgs {
  /** Directory for the rendered config, the pid file and the log. Defaults to `.floe-<stack>/<name>` in the program's working directory. */
  dir?: string;
  /** Port of the writer's /healthz and /metrics on 127.0.0.1. Defaults to any free port, chosen once. */
  httpPort?: number;
}

export interface CdcWriterArgs {
  /** Where it runs: "kubernetes", "aws" or "local". Defaults to "local". */
  target?: string;
  /** Runtime image. Defaults to DEFAULT_IMAGE. */
  image?: pulumi.Input<string>;
  /** Sources, one writer each. Required: at least one, names unique. */
  sources: CdcSourceArgs[];
  /** Source database. Required. */
  database: pulumi.Input<string>;
  /** Replication role. Required. */
  replicationUsername: pulumi.Input<string>;
  /** Its password (pass a secret). Required. */
  replicationPassword: pulumi.Input<string>;
  /**
   * libpq sslmode to the sources: "verify-full" (the server's certificate is signed by the CA and
   * names the host), "verify-ca" (signed by the CA: for certificates that do not name the host the
   * writer connects to), "require" (encrypted, not verified: logged as a warning) or "disable".
   * Defaults to "verify-full" on kubernetes and aws; on local, to the runtime's (disable for a
   * loopback host, verify-full otherwise).
   */
  sslmode?: string;
  /**
   * The CAs the writer trusts for the sources' certificates: a PEM file in the writer's container,
   * "aws-rds" (the RDS / Aurora / RDS Proxy CAs shipped with floe) or "system" (the public CAs).
   * Defaults to "aws-rds" on aws; on kubernetes to each source's mounted `caSecretName` (the public
   * CAs for a source without one); none on local.
   */
  sslrootcert?: string;
  /** Publication read. Defaults to "floe". */
  publication?: string;
  /** Tables. Defaults to every table in the publication, as mirror tables. */
  tables?: CdcTableArgs[];
  /** The REST catalog. Required. */
  catalog: CdcCatalogArgs;
  /** s3://bucket/prefix of the warehouse. Required. */
  warehouseLocation: pulumi.Input<string>;
  /** Object storage access. Defaults to AWS S3 with ambient credentials. */
  storage?: CdcStorageArgs;
  /** Iceberg namespace. Defaults to "floe". */
  namespace?: string;
  /** Longest time a change waits before commit (ms). Defaults to the runtime's (500 ms, runtime/cdc/config.ts). */
  commitIntervalMs?: number;
  /** Iceberg format version of the tables the writer creates: 2 (position delete files) or 3 (deletion vectors; docs/maintenance.md says which engines read them). Defaults to 2. */
  formatVersion?: number;
  /** Table maintenance policy (compaction, manifest rewriting, snapshot expiry, orphan removal). Defaults to the runtime's policy. */
  maintenance?: CdcMaintenanceArgs;
  /** Kubernetes-only settings. Defaults to the defaults of CdcWriterKubernetesArgs. */
  kubernetes?: CdcWriterKubernetesArgs;
  /** AWS-only settings. Required on target "aws". */
  aws?: CdcWriterAwsArgs;
  /** Local-only settings. Defaults to the defaults of CdcWriterLocalArgs. */
  local?: CdcWriterLocalArgs;
}

export interface CdcWriterBuildResult {
  /** local: http://127.0.0.1:<port> of the writer's /healthz and /metrics. */
  healthUrl: pulumi.Output<string | undefined>;
  /** local: the writer's log file. */
  logFile: pulumi.Output<string | undefined>;
  writers: pulumi.Output<string[]>;
  serviceAccountName: pulumi.Output<string | undefined>;
  taskRoleArn: pulumi.Output<string | undefined>;
}
