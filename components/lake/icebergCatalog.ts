import * as pulumi from "@pulumi/pulumi";
import { dispatch, localNotYetAvailable } from "../target";
import { buildKubernetesCatalog } from "./icebergCatalogKubernetes";
import { buildAwsCatalog } from "./icebergCatalogAws";

/** Where the catalog's tables live. */
export interface CatalogStorageArgs {
  /** Bucket of the warehouse. Required. */
  bucket: pulumi.Input<string>;
  /** Prefix of the warehouse inside the bucket. Defaults to "warehouse". */
  prefix?: string;
  /** S3 endpoint for MinIO and other S3-compatible stores. Defaults to AWS S3. */
  endpoint?: pulumi.Input<string>;
  /** Region of the bucket. Defaults to "us-east-1". */
  region?: pulumi.Input<string>;
  /** kubernetes: Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for the bucket. Required on kubernetes. */
  credentialsSecretName?: pulumi.Input<string>;
  /** aws: bucket ARN, for the IAM policy. Required on aws. */
  bucketArn?: pulumi.Input<string>;
}

/** The Postgres database Lakekeeper stores the catalog in. */
export interface CatalogDatabaseArgs {
  /** Postgres host. Required. */
  host: pulumi.Input<string>;
  /** Defaults to 5432. */
  port?: pulumi.Input<number>;
  /** Database name. Required. */
  database: pulumi.Input<string>;
  /** Login role owning the database. Required. */
  username: pulumi.Input<string>;
  /** Its password; pass a secret. Required. */
  password: pulumi.Input<string>;
}

export interface IcebergCatalogKubernetesArgs {
  /** Namespace (must exist). Defaults to "floe". */
  namespace?: string;
  /** Postgres database of the catalog (the platform's cluster). Required. */
  database: CatalogDatabaseArgs;
  /** Version of the Lakekeeper Helm chart. Defaults to "0.7.1". */
  chartVersion?: pulumi.Input<string>;
  /** Catalog replicas. Defaults to 2. */
  replicas?: number;
  /** Image used by the warehouse bootstrap Job. Defaults to "curlimages/curl:8.11.1". */
  bootstrapImage?: pulumi.Input<string>;
  /** Escape hatch merged last into the Lakekeeper chart values. Defaults to none. */
  helmValues?: Record<string, unknown>;
}

export interface IcebergCatalogAwsArgs {
  /** "glue" (the Glue Iceberg REST endpoint over the account's Glue catalog) or "s3tables" (an S3 Tables table bucket). Defaults to "glue". */
  flavor?: string;
}

export interface IcebergCatalogArgs {
  /** Where it runs: "kubernetes", "aws" or "local". Defaults to "local". */
  target?: string;
  /** Warehouse name (Lakekeeper) / table bucket name (S3 Tables). Defaults to "floe". */
  warehouse?: string;
  /** Iceberg namespace created for the CDC writer's tables. Defaults to "floe". */
  namespace?: string;
  /** The warehouse's storage. Required. */
  storage: CatalogStorageArgs;
  /** Kubernetes-only settings. Required on that target. */
  kubernetes?: IcebergCatalogKubernetesArgs;
  /** AWS-only settings. Defaults to flavor "glue". */
  aws?: IcebergCatalogAwsArgs;
}

export interface IcebergCatalogBuildResult {
  uri: pulumi.Output<string>;
  warehouse: pulumi.Output<string>;
  namespace: string;
  sigv4Service: string | undefined;
  region: pulumi.Output<string>;
  accessPolicyArn: pulumi.Output<string | undefined>;
}

/**
 * An Iceberg REST catalog that the CDC writer commits through and every engine reads.
 *
 * - kubernetes: Lakekeeper (Helm) storing its state in the platform's Postgres, with its secrets
 *   encrypted in Postgres; a Job bootstraps it and creates the warehouse on the object store.
 * - aws: the Glue Iceberg REST endpoint (a Glue database as the namespace) or an S3 Tables table
 *   bucket with a namespace; plus an IAM policy with exactly the catalog and bucket access a
 *   writer needs (attach it to the CDC writer's and engines' roles).
 */
export class IcebergCatalog extends pulumi.ComponentResource {
  /** REST catalog base URI. */
  readonly uri: pulumi.Output<string>;
  /** Warehouse identifier to pass to /v1/config. */
  readonly warehouse: pulumi.Output<string>;
  /** Iceberg namespace of the replicated tables. */
  readonly namespace: string;
  /** aws: SigV4 signing service ("glue" or "s3tables"); undefined on kubernetes. */
  readonly sigv4Service: string | undefined;
  readonly region: pulumi.Output<string>;
  /** aws: IAM policy granting catalog + bucket access. */
  readonly accessPolicyArn: pulumi.Output<string | undefined>;

  constructor(name: string, args: IcebergCatalogArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:IcebergCatalog", name, {}, opts);
    const r: IcebergCatalogBuildResult = dispatch("IcebergCatalog", this, name, args.target, args, {
      kubernetes: buildKubernetesCatalog,
      aws: buildAwsCatalog,
      local: localNotYetAvailable("IcebergCatalog"),
    });
    this.uri = r.uri;
    this.warehouse = r.warehouse;
    this.namespace = r.namespace;
    this.sigv4Service = r.sigv4Service;
    this.region = r.region;
    this.accessPolicyArn = r.accessPolicyArn;
    this.registerOutputs({ uri: this.uri, warehouse: this.warehouse, namespace: this.namespace, region: this.region, accessPolicyArn: this.accessPolicyArn });
  }
}
