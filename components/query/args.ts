/** The args of QueryEngines and what every target's builder returns. */
import type * as pulumi from "@pulumi/pulumi";

/** The Iceberg REST catalog the engines read. */
export interface QueryCatalogArgs {
  /** REST catalog base URI (IcebergCatalog.uri). Required. */
  uri: pulumi.Input<string>;
  /** Warehouse identifier (IcebergCatalog.warehouse). Required. */
  warehouse: pulumi.Input<string>;
  /** Name of the catalog inside Trino / the database inside ClickHouse. Defaults to "floe". */
  name?: string;
  /**
   * kubernetes: authenticate with each engine pod's projected service-account token for this
   * audience (IcebergCatalog.tokenAudience). Trino and ClickHouse fetch catalog tokens only by
   * OAuth2 client credentials, so a `floe token-endpoint` container beside each engine serves the
   * rotating token on the pod's loopback as their OAuth2 server. Defaults to none (no token).
   */
  tokenAudience?: pulumi.Input<string>;
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
  /**
   * A Secret whose `ca.crt` (one CA certificate) Trino and ClickHouse trust, on top of the public
   * CAs, for an https catalog and object store (IcebergCatalog.caSecretName / ObjectStorage.caSecretName).
   * Trino: an init container adds it to a copy of the JVM's truststore; ClickHouse: its openSSL
   * client config. Defaults to the public CAs.
   */
  trustedCaSecretName?: pulumi.Input<string>;
  /** Image of the `floe token-endpoint` containers (with `catalog.tokenAudience`). Defaults to the CDC writer's image. */
  runtimeImage?: pulumi.Input<string>;
  /** Image of the Trino truststore init container (it needs keytool). Defaults to "trinodb/trino:475" (the default chart's Trino). */
  trinoImage?: pulumi.Input<string>;
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
