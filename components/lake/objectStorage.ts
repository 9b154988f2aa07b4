import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { dispatch, localNotYetAvailable } from "../target";
import { buildKubernetesObjectStorage } from "./objectStorageKubernetes";
import { buildAwsObjectStorage } from "./objectStorageAws";

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
}

/**
 * Object storage for the lake (Iceberg data and metadata) and for Postgres backups.
 *
 * - kubernetes: MinIO (Helm) with a dedicated, bucket-scoped user, or an existing S3 endpoint; in
 *   both cases a Secret with the credentials (keys ACCESS_KEY_ID / ACCESS_SECRET_KEY for CNPG and
 *   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for engines).
 * - aws: an S3 bucket with SSE-KMS, every public access blocked, owner-enforced ownership,
 *   versioning and a lifecycle that expires noncurrent versions and aborted uploads; or an existing bucket.
 */
export class ObjectStorage extends pulumi.ComponentResource {
  readonly bucket: pulumi.Output<string>;
  /** S3 endpoint URL; undefined means AWS S3 itself. */
  readonly endpoint: pulumi.Output<string | undefined>;
  readonly region: pulumi.Output<string>;
  /** Whether clients must use path-style addressing (MinIO). */
  readonly forcePathStyle: boolean;
  /** s3://bucket/prefix of the Iceberg warehouse. */
  readonly warehouseLocation: pulumi.Output<string>;
  /** kubernetes: Secret with the credentials. */
  readonly credentialsSecretName: pulumi.Output<string | undefined>;
  /** kubernetes: access key (secret). */
  readonly accessKeyId: pulumi.Output<string | undefined>;
  /** kubernetes: secret key (secret). */
  readonly secretAccessKey: pulumi.Output<string | undefined>;
  /** aws: bucket ARN. */
  readonly bucketArn: pulumi.Output<string | undefined>;

  constructor(name: string, args: ObjectStorageArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:ObjectStorage", name, {}, opts);
    const r: ObjectStorageBuildResult = dispatch("ObjectStorage", this, name, args.target, args, {
      kubernetes: buildKubernetesObjectStorage,
      aws: buildAwsObjectStorage,
      local: localNotYetAvailable("ObjectStorage"),
    });
    this.bucket = r.bucket;
    this.endpoint = r.endpoint;
    this.region = r.region;
    this.forcePathStyle = r.forcePathStyle;
    this.warehouseLocation = r.warehouseLocation;
    this.credentialsSecretName = r.credentialsSecretName;
    this.accessKeyId = pulumi.secret(r.accessKeyId);
    this.secretAccessKey = pulumi.secret(r.secretAccessKey);
    this.bucketArn = r.bucketArn;
    this.registerOutputs({
      bucket: this.bucket,
      endpoint: this.endpoint,
      region: this.region,
      warehouseLocation: this.warehouseLocation,
      credentialsSecretName: this.credentialsSecretName,
      accessKeyId: this.accessKeyId,
      secretAccessKey: this.secretAccessKey,
      bucketArn: this.bucketArn,
    });
  }
}
