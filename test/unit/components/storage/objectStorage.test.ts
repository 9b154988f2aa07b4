import { ObjectStorage } from "../../../../components/storage/objectStorage";
import type { FloeMocks } from "../../../../components/testing";
import { countsUnder, installFloeMocks, isSecret, only, valueOf } from "../helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks();
});

describe("ObjectStorage on aws", () => {
  test("a new bucket: SSE-KMS, all public access blocked, versioning, lifecycle, TLS only", async () => {
    const s = new ObjectStorage("sa", { target: "aws" });
    await m.settled(s.bucket, s.warehouseLocation, s.bucketArn);
    expect(countsUnder(m, "sa")).toEqual({
      "aws:s3/bucket:Bucket": 1,
      "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
      "aws:s3/bucketOwnershipControls:BucketOwnershipControls": 1,
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 1,
      "aws:s3/bucketVersioning:BucketVersioning": 1,
      "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": 1,
      "aws:s3/bucketPolicy:BucketPolicy": 1,
    });
    expect(only(m, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "sa").inputs).toMatchObject({
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    expect(
      only(m, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "sa").inputs.rules[0].applyServerSideEncryptionByDefault
        .sseAlgorithm,
    ).toBe("aws:kms");
    expect(only(m, "aws:s3/bucketVersioning:BucketVersioning", "sa").inputs.versioningConfiguration.status).toBe("Enabled");
    const rules = only(m, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "sa").inputs.rules;
    expect(rules.find((r: any) => r.id === "expire-noncurrent").noncurrentVersionExpiration.noncurrentDays).toBe(7);
    expect(rules.find((r: any) => r.id === "abort-incomplete-uploads").abortIncompleteMultipartUpload.daysAfterInitiation).toBe(1);
    const policy = JSON.parse(only(m, "aws:s3/bucketPolicy:BucketPolicy", "sa").inputs.policy);
    expect(policy.Statement[0]).toMatchObject({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } });
    const bucket = (await valueOf(s.bucket))!;
    expect(await valueOf(s.warehouseLocation)).toBe(`s3://${bucket}/warehouse`);
  });

  test("bring-your-own bucket: nothing created, nothing changed", async () => {
    const s = new ObjectStorage("sb", { target: "aws", aws: { existingBucketName: "corp-lake" } });
    await m.settled(s.bucket, s.bucketArn);
    expect(countsUnder(m, "sb")).toEqual({});
    expect(await valueOf(s.bucketArn)).toBe("arn:aws:s3:::corp-lake");
    expect(await valueOf(s.warehouseLocation)).toBe("s3://corp-lake/warehouse");
  });
});

describe("ObjectStorage on kubernetes", () => {
  test("MinIO with a bucket-scoped user whose key is only referenced, never inlined", async () => {
    const s = new ObjectStorage("sk", { target: "kubernetes" });
    await m.settled(s.endpoint, s.secretAccessKey, s.credentialsSecretName);
    expect(countsUnder(m, "sk")).toEqual({
      // credentials, root, the KMS env file
      "kubernetes:core/v1:Secret": 3,
      "kubernetes:helm.sh/v3:Release": 1,
      "random:index/randomPassword:RandomPassword": 2,
      "random:index/randomBytes:RandomBytes": 1,
    });
    const values = only(m, "kubernetes:helm.sh/v3:Release", "sk").inputs.values;
    expect(values.buckets).toEqual([{ name: "floe-lake", policy: "none", purge: false, versioning: true }]);
    expect(values.users[0]).toMatchObject({ existingSecret: "sk-credentials", existingSecretKey: "ACCESS_SECRET_KEY", policy: "floe-lake" });
    expect(values.existingSecret).toBe("sk-minio-root");
    expect(await valueOf(s.endpoint)).toBe("http://sk-minio.floe.svc.cluster.local:9000");
    expect(await isSecret(s.secretAccessKey)).toBe(true);
    expect(m.secretLeaks()).toEqual([]);
  });

  test("encryption at rest: MinIO's KMS key (256 bits, generated, secret) and auto-encryption, read from an env file the chart mounts", async () => {
    const s = new ObjectStorage("sx", { target: "kubernetes" });
    await m.settled(s.endpoint);
    const values = only(m, "kubernetes:helm.sh/v3:Release", "sx").inputs.values;
    expect(values.extraSecret).toBe("sx-minio-env");
    const env = m.named("sx-minio-env", "kubernetes:core/v1:Secret");
    expect(env.inputs.metadata).toMatchObject({ name: "sx-minio-env", namespace: "floe" });
    const lines = String(env.inputs.stringData["config.env"]).trim().split("\n");
    expect(lines).toHaveLength(2);
    const [, keyName, key] = /^export MINIO_KMS_SECRET_KEY=([a-z0-9-]+):([A-Za-z0-9+/=]+)$/.exec(lines[0])!;
    expect(keyName).toBe("floe-sse");
    expect(Buffer.from(key, "base64")).toHaveLength(32);
    expect(lines[1]).toBe("export MINIO_KMS_AUTO_ENCRYPTION=on");
    expect(m.named("sx-kms-key", "random:index/randomBytes:RandomBytes").inputs.length).toBe(32);
    // the key never appears outside a secret
    expect(m.passwords).toContain(key);
    expect(m.secretLeaks()).toEqual([]);
    // off: no env file, no KMS
    new ObjectStorage("sy", { target: "kubernetes", kubernetes: { encryptAtRest: false } });
    await m.settled();
    expect(only(m, "kubernetes:helm.sh/v3:Release", "sy").inputs.values.extraSecret).toBeUndefined();
    expect(countsUnder(m, "sy")["random:index/randomBytes:RandomBytes"]).toBeUndefined();
  });

  test("an existing endpoint: only the credentials Secret", async () => {
    const s = new ObjectStorage("se", {
      target: "kubernetes",
      kubernetes: { existingEndpoint: "https://s3.corp", existingAccessKeyId: "AK", existingSecretAccessKey: "SK-very-secret" },
    });
    await m.settled(s.endpoint, s.secretAccessKey);
    expect(countsUnder(m, "se")).toEqual({ "kubernetes:core/v1:Secret": 1 });
    expect(await valueOf(s.endpoint)).toBe("https://s3.corp");
    expect(m.secretLeaks(["SK-very-secret"])).toEqual([]);
  });

  test("validation", () => {
    expect(() => new ObjectStorage("sv", { target: "kubernetes", kubernetes: { existingEndpoint: "https://x" } })).toThrow(
      /ObjectStorage "sv": kubernetes\.existingAccessKeyId = undefined and kubernetes\.existingSecretAccessKey are both required with kubernetes\.existingEndpoint/,
    );
    expect(() => new ObjectStorage("sw", { target: "aws", bucketName: "Bad_Bucket" })).toThrow(
      /bucketName = "Bad_Bucket" is not a valid name .*Fix: rename it, e\.g\. "bad-bucket"/,
    );
  });
});
