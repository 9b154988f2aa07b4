import * as pulumi from "@pulumi/pulumi";
import { dispatch, localNotYetAvailable } from "../target";
import { buildKubernetesQueryEngines } from "./kubernetes";
import { buildAwsQueryEngines } from "./aws";

/** The Iceberg REST catalog the engines read. */
export interface QueryCatalogArgs {
  /** REST catalog base URI (IcebergCatalog.uri). Required. */
  uri: pulumi.Input<string>;
  /** Warehouse identifier (IcebergCatalog.warehouse). Required. */
  warehouse: pulumi.Input<string>;
  /** Name of the catalog inside Trino / the database inside ClickHouse. Defaults to "floe". */
  name?: string;
}

/** The object storage the tables' files live in. */
export interface QueryStorageArgs {
  /** S3 endpoint for MinIO and other S3-compatible stores. Defaults to AWS S3. */
  endpoint?: pulumi.Input<string>;
  /** Bucket of the warehouse (ClickHouse needs it in its storage endpoint; Athena writes results under it). Required. */
  bucket: pulumi.Input<string>;
  /** Region. Defaults to "us-east-1". */
  region?: pulumi.Input<string>;
  /** kubernetes: Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Required for Trino on kubernetes. */
  credentialsSecretName?: pulumi.Input<string>;
  /** kubernetes: access key (ClickHouse). Required for ClickHouse on kubernetes. */
  accessKeyId?: pulumi.Input<string>;
  /** kubernetes: secret key (pass a secret). Required for ClickHouse on kubernetes. */
  secretAccessKey?: pulumi.Input<string>;
}

export interface QueryEnginesKubernetesArgs {
  /** Namespace (must exist). Defaults to "floe". */
  namespace?: string;
  /** Trino Helm chart version (trinodb.github.io/charts). Defaults to "1.39.1". */
  trinoChartVersion?: pulumi.Input<string>;
  /** Trino workers. Defaults to 2. */
  trinoWorkers?: number;
  /** ClickHouse Helm chart version (Bitnami OCI chart). Defaults to "9.3.0". */
  clickhouseChartVersion?: pulumi.Input<string>;
  /** Escape hatch merged last into the Trino values. Defaults to none. */
  trinoValues?: Record<string, unknown>;
  /** Escape hatch merged last into the ClickHouse values. Defaults to none. */
  clickhouseValues?: Record<string, unknown>;
}

export interface QueryEnginesAwsArgs {
  /** S3 location of Athena query results. Defaults to s3://<storage.bucket>/athena-results/. */
  athenaResultsLocation?: pulumi.Input<string>;
  /** KMS key for Athena results (SSE_KMS). Defaults to SSE_S3. */
  kmsKeyArn?: pulumi.Input<string>;
  /** Per-query scan limit in bytes. Defaults to 1 TiB. */
  bytesScannedCutoffPerQuery?: number;
  /** Trino on aws runs in your EKS cluster (pass a kubernetes provider): the IAM role its ServiceAccount assumes (IRSA). Required when trino is true on aws. */
  trinoRoleArn?: pulumi.Input<string>;
  /** Namespace of Trino on EKS. Defaults to "floe". */
  trinoNamespace?: string;
}

export interface QueryEnginesArgs {
  /** Where it runs: "kubernetes", "aws" or "local". Defaults to "local". */
  target?: string;
  /** The catalog. Required. */
  catalog: QueryCatalogArgs;
  /** The warehouse's storage. Required. */
  storage: QueryStorageArgs;
  /** Deploy Trino. Defaults to true on kubernetes, false on aws. */
  trino?: boolean;
  /** Deploy ClickHouse (kubernetes only). Defaults to true on kubernetes. */
  clickhouse?: boolean;
  /** Create an Athena workgroup (aws only). Defaults to true on aws. */
  athena?: boolean;
  /** Kubernetes-only settings. Defaults to the defaults of QueryEnginesKubernetesArgs. */
  kubernetes?: QueryEnginesKubernetesArgs;
  /** AWS-only settings. Defaults to the defaults of QueryEnginesAwsArgs. */
  aws?: QueryEnginesAwsArgs;
}

export interface QueryEnginesBuildResult {
  trinoEndpoint: pulumi.Output<string | undefined>;
  clickhouseEndpoint: pulumi.Output<string | undefined>;
  clickhousePassword: pulumi.Output<string | undefined>;
  athenaWorkgroup: pulumi.Output<string | undefined>;
}

/**
 * Query engines configured against the REST catalog, so the CDC writer's tables are queryable at once.
 *
 * - kubernetes: Trino (Helm, an `iceberg` connector catalog on the REST catalog) and ClickHouse
 *   (Helm, a `DataLakeCatalog` database on the REST catalog created by an init script).
 * - aws: an Athena workgroup (results encrypted, configuration enforced, scan limit), and optionally
 *   Trino on your EKS cluster reading the Glue catalog.
 */
export class QueryEngines extends pulumi.ComponentResource {
  /** Trino HTTP endpoint (in-cluster). */
  readonly trinoEndpoint: pulumi.Output<string | undefined>;
  /** ClickHouse HTTP endpoint (in-cluster). */
  readonly clickhouseEndpoint: pulumi.Output<string | undefined>;
  /** ClickHouse password of user "floe" (secret). */
  readonly clickhousePassword: pulumi.Output<string | undefined>;
  /** Athena workgroup name. */
  readonly athenaWorkgroup: pulumi.Output<string | undefined>;

  constructor(name: string, args: QueryEnginesArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:QueryEngines", name, {}, opts);
    const r: QueryEnginesBuildResult = dispatch("QueryEngines", this, name, args.target, args, {
      kubernetes: buildKubernetesQueryEngines,
      aws: buildAwsQueryEngines,
      local: localNotYetAvailable("QueryEngines"),
    });
    this.trinoEndpoint = r.trinoEndpoint;
    this.clickhouseEndpoint = r.clickhouseEndpoint;
    this.clickhousePassword = pulumi.secret(r.clickhousePassword);
    this.athenaWorkgroup = r.athenaWorkgroup;
    this.registerOutputs({ trinoEndpoint: this.trinoEndpoint, clickhouseEndpoint: this.clickhouseEndpoint, clickhousePassword: this.clickhousePassword, athenaWorkgroup: this.athenaWorkgroup });
  }
}
