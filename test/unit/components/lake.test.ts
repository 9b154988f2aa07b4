import { ObjectStorage } from "../../../components/storage/objectStorage";
import { IcebergCatalog } from "../../../components/catalog/icebergCatalog";
import type { FloeMocks } from "../../../components/testing";
import { countsUnder, installFloeMocks, isSecret, only, valueOf } from "./helpers";

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
    expect(only(m, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "sa").inputs).toMatchObject({ blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
    expect(only(m, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "sa").inputs.rules[0].applyServerSideEncryptionByDefault.sseAlgorithm).toBe("aws:kms");
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
      "kubernetes:core/v1:Secret": 2,
      "kubernetes:helm.sh/v3:Release": 1,
      "random:index/randomPassword:RandomPassword": 2,
    });
    const values = only(m, "kubernetes:helm.sh/v3:Release", "sk").inputs.values;
    expect(values.buckets).toEqual([{ name: "floe-lake", policy: "none", purge: false, versioning: true }]);
    expect(values.users[0]).toMatchObject({ existingSecret: "sk-credentials", existingSecretKey: "ACCESS_SECRET_KEY", policy: "floe-lake" });
    expect(values.existingSecret).toBe("sk-minio-root");
    expect(await valueOf(s.endpoint)).toBe("http://sk-minio.floe.svc.cluster.local:9000");
    expect(await isSecret(s.secretAccessKey)).toBe(true);
    expect(m.secretLeaks()).toEqual([]);
  });

  test("an existing endpoint: only the credentials Secret", async () => {
    const s = new ObjectStorage("se", { target: "kubernetes", kubernetes: { existingEndpoint: "https://s3.corp", existingAccessKeyId: "AK", existingSecretAccessKey: "SK-very-secret" } });
    await m.settled(s.endpoint, s.secretAccessKey);
    expect(countsUnder(m, "se")).toEqual({ "kubernetes:core/v1:Secret": 1 });
    expect(await valueOf(s.endpoint)).toBe("https://s3.corp");
    expect(m.secretLeaks(["SK-very-secret"])).toEqual([]);
  });

  test("validation", () => {
    expect(() => new ObjectStorage("sv", { target: "kubernetes", kubernetes: { existingEndpoint: "https://x" } })).toThrow(
      /ObjectStorage "sv": kubernetes\.existingAccessKeyId = undefined and kubernetes\.existingSecretAccessKey are both required with kubernetes\.existingEndpoint/,
    );
    expect(() => new ObjectStorage("sw", { target: "aws", bucketName: "Bad_Bucket" })).toThrow(/bucketName = "Bad_Bucket" is not a valid name .*Fix: rename it, e\.g\. "bad-bucket"/);
  });
});

describe("IcebergCatalog", () => {
  test("kubernetes: Lakekeeper on the platform's Postgres, a bootstrap Job creating the warehouse", async () => {
    const c = new IcebergCatalog("ck", {
      target: "kubernetes",
      storage: { bucket: "lake", endpoint: "http://minio:9000", credentialsSecretName: "creds" },
      kubernetes: { database: { host: "pg-rw", database: "lakekeeper", username: "lakekeeper", password: "db-password-123" } },
    });
    await m.settled(c.uri, c.warehouse);
    expect(countsUnder(m, "ck")).toEqual({
      "random:index/randomPassword:RandomPassword": 1,
      "kubernetes:core/v1:Secret": 1,
      "kubernetes:helm.sh/v3:Release": 1,
      "kubernetes:batch/v1:Job": 1,
    });
    const values = only(m, "kubernetes:helm.sh/v3:Release", "ck").inputs.values;
    expect(values.postgresql.enabled).toBe(false);
    expect(values.externalDatabase).toMatchObject({ type: "postgresql", host_write: "pg-rw", database: "lakekeeper", passwordSecret: "ck-db" });
    const script: string = only(m, "kubernetes:batch/v1:Job", "ck").inputs.spec.template.spec.containers[0].command[2];
    expect(script).toContain("/management/v1/warehouse");
    expect(script).toContain('"bucket":"lake"');
    expect(await valueOf(c.uri)).toBe("http://ck-lakekeeper.floe.svc.cluster.local:8181/catalog");
    expect(m.secretLeaks(["db-password-123"])).toEqual([]);
  });

  test("aws glue: a Glue database and a policy scoped to it and the warehouse prefix", async () => {
    const c = new IcebergCatalog("cg", { target: "aws", storage: { bucket: "lake", bucketArn: "arn:aws:s3:::lake" } });
    await m.settled(c.uri, c.warehouse, c.accessPolicyArn);
    expect(countsUnder(m, "cg")).toEqual({ "aws:glue/catalogDatabase:CatalogDatabase": 1, "aws:iam/policy:Policy": 1 });
    expect(await valueOf(c.uri)).toBe("https://glue.us-east-1.amazonaws.com/iceberg");
    expect(await valueOf(c.warehouse)).toBe("123456789012");
    expect(c.sigv4Service).toBe("glue");
    const policy = JSON.parse(only(m, "aws:iam/policy:Policy", "cg").inputs.policy);
    expect(policy.Statement[0].Resource).toContain("arn:aws:glue:us-east-1:123456789012:table/floe/*");
    expect(policy.Statement[2].Resource).toEqual(["arn:aws:s3:::lake/warehouse/*"]);
  });

  test("aws s3tables: a table bucket and namespace", async () => {
    const c = new IcebergCatalog("ct", { target: "aws", storage: { bucket: "lake" }, aws: { flavor: "s3tables" } });
    await m.settled(c.uri, c.warehouse, c.accessPolicyArn);
    expect(countsUnder(m, "ct")).toEqual({ "aws:s3tables/tableBucket:TableBucket": 1, "aws:s3tables/namespace:Namespace": 1, "aws:iam/policy:Policy": 1 });
    expect(await valueOf(c.warehouse)).toMatch(/^arn:aws:s3tables:us-east-1:123456789012:bucket\//);
    expect(c.sigv4Service).toBe("s3tables");
  });

  test("validation", () => {
    expect(() => new IcebergCatalog("cv", { target: "aws", storage: { bucket: "b" }, aws: { flavor: "hive" } })).toThrow(/aws\.flavor = "hive" is not one of "glue", "s3tables"/);
    expect(() => new IcebergCatalog("cw", { target: "kubernetes", storage: { bucket: "b", credentialsSecretName: "c" } })).toThrow(/kubernetes = undefined is required when target is "kubernetes"/);
  });
});
