import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { BuildContext } from "../target";
import type { ObjectStorageArgs, ObjectStorageBuildResult } from "./args";

export function buildAwsObjectStorage(ctx: BuildContext<ObjectStorageArgs>): ObjectStorageBuildResult {
  const { name, args, v, childOpts, parent } = ctx;
  const aa = args.aws ?? {};
  if (args.kubernetes) v.fail("kubernetes", "{…}", 'is set but target is "aws"', 'move these settings under "aws" or set target to "kubernetes"');
  const prefix = args.warehousePrefix ?? "warehouse";
  const days = v.int("noncurrentVersionDays", args.noncurrentVersionDays, 7, 1, 3650);
  if (args.bucketName !== undefined) v.dnsLabel("bucketName", args.bucketName, 63);
  if (aa.existingBucketName !== undefined && args.bucketName !== undefined) {
    v.fail(
      "bucketName",
      args.bucketName,
      "cannot be combined with aws.existingBucketName",
      "set only one: bucketName to create a bucket, aws.existingBucketName to use yours",
    );
  }
  const region = aws.getRegionOutput({}, { parent }).region;

  let bucketName: pulumi.Output<string>;
  let bucketArn: pulumi.Output<string>;
  if (aa.existingBucketName !== undefined) {
    bucketName = pulumi.output(aa.existingBucketName);
    bucketArn = pulumi.interpolate`arn:aws:s3:::${aa.existingBucketName}`;
  } else {
    const b = new aws.s3.Bucket(
      `${name}-bucket`,
      { ...(args.bucketName ? { bucket: args.bucketName } : { bucketPrefix: `${name.slice(0, 30)}-` }), forceDestroy: aa.forceDestroy ?? false },
      childOpts,
    );
    new aws.s3.BucketPublicAccessBlock(
      `${name}-public-access`,
      { bucket: b.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
      childOpts,
    );
    new aws.s3.BucketOwnershipControls(`${name}-ownership`, { bucket: b.id, rule: { objectOwnership: "BucketOwnerEnforced" } }, childOpts);
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-encryption`,
      {
        bucket: b.id,
        rules: [
          {
            applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", ...(aa.kmsKeyArn ? { kmsMasterKeyId: aa.kmsKeyArn } : {}) },
            bucketKeyEnabled: true,
          },
        ],
      },
      childOpts,
    );
    const versioning = new aws.s3.BucketVersioning(`${name}-versioning`, { bucket: b.id, versioningConfiguration: { status: "Enabled" } }, childOpts);
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-lifecycle`,
      {
        bucket: b.id,
        rules: [
          {
            id: "expire-noncurrent",
            status: "Enabled",
            filter: {},
            noncurrentVersionExpiration: { noncurrentDays: days },
            expiration: { expiredObjectDeleteMarker: true },
          },
          { id: "abort-incomplete-uploads", status: "Enabled", filter: {}, abortIncompleteMultipartUpload: { daysAfterInitiation: 1 } },
        ],
      },
      { ...childOpts, dependsOn: [versioning] },
    );
    // TLS only.
    new aws.s3.BucketPolicy(
      `${name}-tls-only`,
      {
        bucket: b.id,
        policy: b.arn.apply((arn) =>
          JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: [arn, `${arn}/*`],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
              },
            ],
          }),
        ),
      },
      childOpts,
    );
    bucketName = b.bucket;
    bucketArn = b.arn;
  }
  return {
    bucket: bucketName,
    endpoint: pulumi.output(undefined),
    region,
    forcePathStyle: false,
    warehouseLocation: pulumi.interpolate`s3://${bucketName}/${prefix}`,
    credentialsSecretName: pulumi.output(undefined),
    accessKeyId: pulumi.output(undefined),
    secretAccessKey: pulumi.output(undefined),
    bucketArn: bucketArn.apply((a) => a as string | undefined),
  };
}
