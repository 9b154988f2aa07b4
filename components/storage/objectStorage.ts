import * as pulumi from "@pulumi/pulumi";
import { dispatch } from "../target";
import { buildKubernetesObjectStorage } from "./kubernetes";
import { buildAwsObjectStorage } from "./aws";
import { buildLocalObjectStorage } from "./local";
import type { ObjectStorageArgs, ObjectStorageBuildResult } from "./args";

export * from "./args";

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
  /** kubernetes with `tls`: the Secret whose `ca.crt` clients of the https endpoint trust. */
  readonly caSecretName: pulumi.Output<string | undefined>;

  constructor(name: string, args: ObjectStorageArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:ObjectStorage", name, {}, opts);
    const r: ObjectStorageBuildResult = dispatch("ObjectStorage", this, name, args.target, args, {
      kubernetes: buildKubernetesObjectStorage,
      aws: buildAwsObjectStorage,
      local: buildLocalObjectStorage,
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
    this.caSecretName = r.caSecretName ?? pulumi.output(undefined);
    this.registerOutputs({
      bucket: this.bucket,
      endpoint: this.endpoint,
      region: this.region,
      warehouseLocation: this.warehouseLocation,
      credentialsSecretName: this.credentialsSecretName,
      accessKeyId: this.accessKeyId,
      secretAccessKey: this.secretAccessKey,
      bucketArn: this.bucketArn,
      caSecretName: this.caSecretName,
    });
  }
}
