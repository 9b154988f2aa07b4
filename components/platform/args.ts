/** The args of DataPlatform (no code: the platform, its per-target wiring and the local mapping import this). */
import type * as pulumi from "@pulumi/pulumi";
import type { PostgresClusterArgs } from "../postgres/args";
import type { ObjectStorageArgs } from "../storage/args";
import type { QueryEnginesAwsArgs, QueryEnginesKubernetesArgs } from "../query/args";
import type { CdcMaintenanceArgs, CdcTableArgs } from "../cdc/args";

export interface DataPlatformPoolerArgs {
  /** "transaction", "session" or "statement". Defaults to "transaction". */
  poolMode?: string;
  /** Defaults to 1000. */
  maxClientConnections?: number;
  /** Defaults to 20. */
  defaultPoolSize?: number;
  /** pgBouncer instances (kubernetes "cnpg"). Defaults to 2. */
  instances?: number;
  /**
   * kubernetes: "cnpg" (a CNPG Pooler) or "pgbouncer" (a pgBouncer Deployment with its config on a
   * ReadWriteMany claim and an admin console: what BlueGreenUpgrade drives). Defaults to "cnpg".
   */
  implementation?: string;
  /** kubernetes "pgbouncer": ReadWriteMany StorageClass of the config claim. Defaults to the cluster default. */
  configStorageClass?: pulumi.Input<string>;
}

/**
 * kubernetes: default deny in the namespaces floe creates (the platform's, and cnpg-system when it
 * installs the operator), then one policy per piece allowing exactly the paths it needs.
 */
export interface DataPlatformNetworkPolicyArgs {
  /** Declare them. Defaults to true. */
  enabled?: boolean;
  /**
   * CIDRs of the Kubernetes API server's endpoints, which CloudNativePG's instance manager and
   * operator call (TCP 443 and 6443). Defaults to ["0.0.0.0/0"] on those two ports only: narrow it
   * to your control plane's addresses.
   */
  apiServerCidrs?: string[];
  /**
   * Namespaces whose pods may reach the platform's front doors: the pooler (5432), Trino (8080),
   * ClickHouse (8123, 9000), the catalog (8181) and the CDC writer's metrics (9187). Defaults to
   * every namespace.
   */
  clientNamespaces?: string[];
}

export interface DataPlatformCatalogArgs {
  /** Use an existing Iceberg REST catalog instead of creating one: its base URI. Defaults to creating one. */
  existingUri?: pulumi.Input<string>;
  /** Warehouse identifier of the existing catalog. Required with existingUri. */
  existingWarehouse?: pulumi.Input<string>;
  /** SigV4 signing service of the existing catalog ("glue" or "s3tables"). Defaults to none (no signing). */
  existingSigv4Service?: string;
  /** aws: IAM policy granting access to the existing catalog; attached to the CDC writer's task role. Defaults to none. */
  existingAccessPolicyArn?: pulumi.Input<string>;
  /** Warehouse name. Defaults to "floe". */
  warehouse?: string;
  /** Iceberg namespace of the replicated tables. Defaults to "floe". */
  namespace?: string;
  /** aws: "glue" or "s3tables". Defaults to "glue". */
  awsFlavor?: string;
  /** aws, glue: the warehouse is registered with Lake Formation (adds lakeformation:GetDataAccess, which IAM only grants on "*"). Defaults to false. */
  awsLakeFormation?: boolean;
  /** kubernetes: Lakekeeper replicas. Defaults to 2. */
  replicas?: number;
  /**
   * kubernetes: who may call Lakekeeper: "kubernetes" (service-account tokens for the audience
   * `tokenAudience`, checked with the API server's TokenReview; the bootstrap Job, the CDC writer,
   * Trino and ClickHouse send their pods' projected tokens) or "none". Defaults to "kubernetes".
   */
  authentication?: string;
  /** kubernetes: the audience of the catalog's service-account tokens. Defaults to "floe-catalog". */
  tokenAudience?: string;
  /** kubernetes: also accept the tokens of this OpenID provider (issuer URL), for your own clients. Defaults to none. */
  openIdProviderUri?: pulumi.Input<string>;
  /** kubernetes: the audience those OpenID tokens must carry. Defaults to none. */
  openIdAudience?: pulumi.Input<string>;
  /** kubernetes: escape hatch merged into the Lakekeeper values. Defaults to none. */
  helmValues?: Record<string, unknown>;
}

/** kubernetes: TLS between the pieces, through cert-manager. */
export interface DataPlatformTlsArgs {
  /**
   * MinIO and Lakekeeper serve TLS with certificates cert-manager issues (a CA per install, or
   * `issuerName`); floe hands out https:// endpoints, and the CDC writer, Lakekeeper, the catalog
   * bootstrap Job, CloudNativePG's backups, Trino and ClickHouse trust that CA. Defaults to true.
   */
  enabled?: boolean;
  /**
   * Install cert-manager (its Helm chart, CRDs included, in the namespace "cert-manager"). Set
   * false when the cluster has cert-manager already. Defaults to true.
   */
  installCertManager?: boolean;
  /** Version of the cert-manager chart (charts.jetstack.io). Defaults to "v1.21.2". */
  certManagerChartVersion?: string;
  /**
   * Your cert-manager Issuer (in the platform's namespace) or ClusterIssuer to sign the
   * certificates instead of a CA floe makes; needs `caSecretName`. Defaults to a self-signed CA
   * made for this install (Secret `<name>-tls-ca`, ten years, ECDSA P-256).
   */
  issuerName?: string;
  /** "Issuer" or "ClusterIssuer". Defaults to "Issuer". */
  issuerKind?: string;
  /** With `issuerName`: a Secret in the platform's namespace whose `ca.crt` is the CA your issuer's certificates chain to. Required with it. */
  caSecretName?: string;
}

export interface DataPlatformQueryArgs {
  /** Defaults to true on kubernetes, false on aws. */
  trino?: boolean;
  /** kubernetes only. Defaults to true on kubernetes. */
  clickhouse?: boolean;
  /** aws only. Defaults to true on aws. */
  athena?: boolean;
  /** Kubernetes-only engine settings. Defaults to the defaults of QueryEnginesKubernetesArgs. */
  kubernetes?: QueryEnginesKubernetesArgs;
  /** AWS-only engine settings. Defaults to the defaults of QueryEnginesAwsArgs. */
  aws?: QueryEnginesAwsArgs;
}

export interface DataPlatformCdcArgs {
  /** Runtime image. Defaults to the floe image of this version. */
  image?: pulumi.Input<string>;
  /** Tables. Defaults to every table of the publication, as mirror tables. */
  tables?: CdcTableArgs[];
  /** Longest time a change waits before commit (ms). Defaults to the runtime's (500 ms, runtime/cdc/config.ts). */
  commitIntervalMs?: number;
  /** Iceberg format version of new tables: 2 or 3 (deletion vectors; docs/maintenance.md). Defaults to 2. */
  formatVersion?: number;
  /** Table maintenance policy, run by the writer between commits (off by default with S3 Tables). Defaults to the runtime's policy. */
  maintenance?: CdcMaintenanceArgs;
  /** aws: Fargate CPU units. Defaults to 2048. */
  cpu?: number;
  /** aws: Fargate memory (MiB). Defaults to 4096. */
  memory?: number;
  /** aws: existing ECS cluster. Defaults to a new cluster. */
  ecsClusterArn?: pulumi.Input<string>;
  /**
   * aws: how the writer reaches the AWS APIs: "create" (floe's VPC endpoints), "existing" (your
   * VPC's), or "internet" (your NAT); see CdcWriterAwsArgs.vpcEndpoints. Defaults to "create".
   */
  vpcEndpoints?: string;
  /** aws: route tables of the S3 gateway endpoint ("create"). Defaults to the VPC's main route table. */
  routeTableIds?: pulumi.Input<pulumi.Input<string>[]>;
}

export interface DataPlatformUpgradeArgs {
  /**
   * The new Postgres major. `postgres.version` stays the running (old) major: changing it directly
   * would re-create the database, which floe refuses on the local target. Required.
   */
  toVersion: number;
  /** Hard budget (ms) for green to apply blue's final LSN while the pooler is paused; past it the cutover resumes on blue. Defaults to 1000. */
  budgetMs?: number;
  /** kubernetes and aws: whether the orchestrator runs now (false creates green only). The local target always runs it. Defaults to true. */
  run?: boolean;
  /**
   * local: finish the upgrade once green serves: drop the replication objects, move the SQL
   * catalog to green, stop and delete blue (no rollback afterwards; cannot be undone). On
   * kubernetes and aws, blue is the platform's own cluster and stays. Defaults to false.
   */
  retireBlue?: boolean;
  /**
   * aws: admin console URL of a pgBouncer in front of the Aurora cluster (RDS Proxy cannot PAUSE, so
   * the cutover needs pgBouncer). Kept secret. Required on aws.
   */
  poolerAdminUrl?: pulumi.Input<string>;
  /** aws: EFS file system holding that pgBouncer's pgbouncer.ini (mounted by the orchestrator task). Required on aws. */
  efsFileSystemId?: pulumi.Input<string>;
  /** kubernetes and aws: runtime image of the orchestrator. Defaults to the floe image of this version. */
  image?: pulumi.Input<string>;
}

export interface DataPlatformArgs {
  /** Where it runs: "kubernetes", "aws" or "local". Defaults to "local". */
  target?: string;
  /** kubernetes: namespace of every piece. Defaults to "floe". */
  namespace?: string;
  /** kubernetes: create the namespace. Set false when it exists. Defaults to true. */
  createNamespace?: boolean;
  /** kubernetes: NetworkPolicies of every piece. Defaults to the defaults of DataPlatformNetworkPolicyArgs (on). */
  networkPolicies?: DataPlatformNetworkPolicyArgs;
  /** kubernetes: TLS between the pieces (cert-manager). Defaults to the defaults of DataPlatformTlsArgs (on). */
  tls?: DataPlatformTlsArgs;
  /** The Postgres cluster (its `target` must be unset; the platform's applies). Defaults to PostgresClusterArgs' defaults. */
  postgres?: PostgresClusterArgs;
  /** pgBouncer / RDS Proxy. Defaults to transaction pooling with the defaults of DataPlatformPoolerArgs. */
  pooler?: DataPlatformPoolerArgs;
  /** Object storage (its `target` must be unset). Defaults to MinIO on kubernetes, a new S3 bucket on aws. */
  storage?: ObjectStorageArgs;
  /** The Iceberg catalog. Defaults to Lakekeeper on kubernetes, Glue on aws. */
  catalog?: DataPlatformCatalogArgs;
  /** Query engines. Defaults to Trino + ClickHouse on kubernetes, Athena on aws. */
  query?: DataPlatformQueryArgs;
  /** The CDC writer. Defaults to every table of the publication, as mirror tables, one writer per shard. */
  cdc?: DataPlatformCdcArgs;
  /**
   * A zero-downtime major upgrade to `toVersion` (docs/upgrade.md): a green cluster at the new
   * major, logical replication, a budgeted cutover behind pgBouncer, reverse replication for
   * rollback, the CDC writer following by itself. Local: run by `pulumi up`, every shard. Kubernetes
   * (pooler.implementation "pgbouncer", unsharded) and aws (your pgBouncer, unsharded): a
   * BlueGreenUpgrade child wired from the platform's outputs. Keep it set after the cutover.
   * Defaults to none (no upgrade).
   */
  upgrade?: DataPlatformUpgradeArgs;
}

// ---------------------------------------------------------------- LocalPlatform

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

export interface LocalCatalogArgs {
  /**
   * Also run an Iceberg REST catalog server (Apache Iceberg's own, a JdbcCatalog over the SQL
   * catalog's tables in the local Postgres) on 127.0.0.1 behind OAuth2 client credentials, that
   * engines attach to as in production and the CDC writer commits through. Needs a JDK 17+ and
   * Maven (its jars come from Maven Central, cached), a JVM of about 150 MB and a few seconds at
   * start. Defaults to false: the SQL catalog alone (the writer commits to it directly) and nothing
   * needs Java.
   */
  rest?: boolean;
  /** Port of the REST catalog server on 127.0.0.1. Defaults to any free port, chosen once. */
  port?: number;
}

export interface LocalCdcArgs {
  /** Tables to replicate. Defaults to every table of the publication, as mirror tables. */
  tables?: CdcTableArgs[];
  /** Longest time a change waits before it is committed to Iceberg. Defaults to the runtime's (500 ms, runtime/cdc/config.ts). */
  commitIntervalMs?: number;
  /** Iceberg format version of new tables: 2 or 3 (deletion vectors; docs/maintenance.md). Defaults to 2. */
  formatVersion?: number;
  /** Table maintenance policy, run by the writer between commits. Defaults to the runtime's policy. */
  maintenance?: CdcMaintenanceArgs;
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
  /** The Iceberg catalog's REST server. Defaults to LocalCatalogArgs' defaults (the SQL catalog alone, no REST server). */
  catalog?: LocalCatalogArgs;
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
