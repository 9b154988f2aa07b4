import { IcebergCatalog } from "../../../../components/catalog/icebergCatalog";
import type { FloeMocks } from "../../../../components/testing";
import { countsUnder, installFloeMocks, only, valueOf } from "../helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks();
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
    // every resource is an ARN floe knows: no "*" unless Lake Formation is asked for
    expect(policy.Statement.flatMap((st: any) => st.Resource)).not.toContain("*");
    expect(policy.Statement.map((st: any) => st.Sid)).toEqual(["IcebergCatalog", "WarehouseList", "WarehouseObjects"]);
  });

  test("aws glue with Lake Formation: lakeformation:GetDataAccess, the one action IAM only grants on *", async () => {
    const c = new IcebergCatalog("clf", { target: "aws", storage: { bucket: "lake", bucketArn: "arn:aws:s3:::lake" }, aws: { lakeFormation: true } });
    await m.settled(c.accessPolicyArn);
    const policy = JSON.parse(only(m, "aws:iam/policy:Policy", "clf").inputs.policy);
    const star = policy.Statement.filter((st: any) => st.Resource.includes("*"));
    expect(star).toEqual([{ Sid: "LakeFormationData", Effect: "Allow", Action: ["lakeformation:GetDataAccess"], Resource: ["*"] }]);
    expect(() => new IcebergCatalog("clf2", { target: "aws", storage: { bucket: "lake" }, aws: { flavor: "s3tables", lakeFormation: true } })).toThrow(
      /aws\.lakeFormation = true is only used with flavor "glue" \(it is "s3tables"\)/,
    );
  });

  test("aws s3tables: a table bucket and namespace", async () => {
    const c = new IcebergCatalog("ct", { target: "aws", storage: { bucket: "lake" }, aws: { flavor: "s3tables" } });
    await m.settled(c.uri, c.warehouse, c.accessPolicyArn);
    expect(countsUnder(m, "ct")).toEqual({ "aws:s3tables/tableBucket:TableBucket": 1, "aws:s3tables/namespace:Namespace": 1, "aws:iam/policy:Policy": 1 });
    expect(await valueOf(c.warehouse)).toMatch(/^arn:aws:s3tables:us-east-1:123456789012:bucket\//);
    expect(c.sigv4Service).toBe("s3tables");
  });

  test("validation", () => {
    expect(() => new IcebergCatalog("cv", { target: "aws", storage: { bucket: "b" }, aws: { flavor: "hive" } })).toThrow(
      /aws\.flavor = "hive" is not one of "glue", "s3tables"/,
    );
    expect(() => new IcebergCatalog("cw", { target: "kubernetes", storage: { bucket: "b", credentialsSecretName: "c" } })).toThrow(
      /kubernetes = undefined is required when target is "kubernetes"/,
    );
  });
});
