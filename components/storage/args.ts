/** The args of ObjectStorage and what every target's builder returns. */
import type * as pulumi from "@pulumi/pulumi";
import type * as k8s from "@pulumi/kubernetes";
import type { CertificateTlsArgs } from "../tls";

export interface ObjectStorageKubernetesArgs {
  /** Namespace (must exist). Defaults to "floe". */
  namespace?: string;
  /** Use an existing S3-compatible endpoint instead of deploying MinIO, e.g. "https://s3.example.com". Defaults to deploying MinIO. */
  existingEndpoint?: pulumi.Input<string>;
  /** Access key for `existingEndpoint`. Required with it. */
  existingAccessKeyId?: pulumi.Input<string>;
  /** Secret key for `existingEndpoint` (pass a secret). Required with it. */
  existingSecretAccessKey?: pulumi.Input<string>;
  /** Version of the MinIO Helm chart (charts.min.io). Defaults to "5.4.0". */
  chartVersion?: pulumi.Input<string>;
  /** Size of the MinIO volume. Defaults to "50Gi". */
  storageSize?: pulumi.Input<string>;
  /** StorageClass of the MinIO volume. Defaults to the cluster's default class. */
  storageClass?: pulumi.Input<string>;
  /** Resources of the MinIO pod. Defaults to requests cpu 250m / memory 1Gi. */
  resources?: pulumi.Input<k8s.types.input.core.v1.ResourceRequirements>;
  /**
   * Encrypt every object MinIO stores (SSE-S3 by MinIO's built-in KMS: `MINIO_KMS_SECRET_KEY`
   * with a 256-bit key floe generates and keeps in a Secret, `MINIO_KMS_AUTO_ENCRYPTION=on`).
   * Losing that Secret loses the data: back it up. For a key held outside the cluster, set false
   * and configure MinIO KES through `helmValues`. Defaults to true.
   */
  encryptAtRest?: boolean;
  /**
   * Serve MinIO over TLS with a cert-manager certificate from this issuer (Secret
   * `<name>-minio-tls`, reloaded by MinIO as cert-manager renews it); the endpoint becomes
   * https://, and `caSecretName` is what clients must trust (output `caSecretName`). Not with
   * `existingEndpoint`. DataPlatform passes its CA. Defaults to plain HTTP.
   */
  tls?: CertificateTlsArgs;
  /** Escape hatch merged last into the MinIO chart values. Defaults to none. */
  helmValues?: Record<string, unknown>;
}

export interface ObjectStorageAwsArgs {
  /** Use an existing bucket (floe then creates nothing and changes none of its settings). Defaults to a new bucket. */
  existingBucketName?: pulumi.Input<string>;
  /** KMS key for SSE-KMS. Defaults to the AWS-managed key for S3 ("aws:kms" without a key id). */
  kmsKeyArn?: pulumi.Input<string>;
  /** Allow `pulumi destroy` to delete a non-empty bucket. Defaults to false. */
  forceDestroy?: boolean;
}

export interface ObjectStorageLocalArgs {
  /** Absolute directory holding the warehouse (`<warehousePrefix>` inside). Defaults to `.floe-<stack>/<name>` in the program's working directory. */
  path?: string;
}

export interface ObjectStorageArgs {
  /** Where it runs: "kubernetes", "aws" or "local". Defaults to "local". */
  target?: string;
  /** Bucket name. Defaults to "floe-lake" on kubernetes and to a generated unique name on aws. */
  bucketName?: string;
  /** Prefix of the Iceberg warehouse inside the bucket. Defaults to "warehouse". */
  warehousePrefix?: string;
  /** Days before noncurrent object versions (files Iceberg maintenance deleted) are expired. Defaults to 7. */
  noncurrentVersionDays?: number;
  /** Kubernetes-only settings. Defaults to MinIO with the defaults of ObjectStorageKubernetesArgs. */
  kubernetes?: ObjectStorageKubernetesArgs;
  /** AWS-only settings. Defaults to a new bucket with the defaults of ObjectStorageAwsArgs. */
  aws?: ObjectStorageAwsArgs;
  /** Local-only settings. Defaults to the defaults of ObjectStorageLocalArgs. */
  local?: ObjectStorageLocalArgs;
}

export interface ObjectStorageBuildResult {
  bucket: pulumi.Output<string>;
  endpoint: pulumi.Output<string | undefined>;
  region: pulumi.Output<string>;
  forcePathStyle: boolean;
  warehouseLocation: pulumi.Output<string>;
  credentialsSecretName: pulumi.Output<string | undefined>;
  accessKeyId: pulumi.Output<string | undefined>;
  secretAccessKey: pulumi.Output<string | undefined>;
  bucketArn: pulumi.Output<string | undefined>;
  /** kubernetes with TLS: the Secret (key ca.crt) clients trust. Defaults to undefined. */
  caSecretName?: pulumi.Output<string | undefined>;
}
