import { QueryEngines } from "../../../../components/query/queryEngines";
import type { FloeMocks } from "../../../../components/testing";
import { countsUnder, installFloeMocks, isSecret, only, valueOf } from "../helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks();
});

const catalog = { uri: "http://lk.floe.svc:8181/catalog", warehouse: "floe" };

describe("QueryEngines on kubernetes", () => {
  test("Trino and ClickHouse, both configured against the REST catalog", async () => {
    const q = new QueryEngines("qk", {
      target: "kubernetes",
      catalog,
      storage: { bucket: "lake", endpoint: "http://minio:9000", credentialsSecretName: "creds", accessKeyId: "AK", secretAccessKey: "storage-secret-key-1" },
    });
    await m.settled(q.trinoEndpoint, q.clickhouseEndpoint, q.clickhousePassword);
    expect(countsUnder(m, "qk")).toEqual({
      "kubernetes:helm.sh/v3:Release": 2,
      "kubernetes:core/v1:Secret": 2,
      "random:index/randomPassword:RandomPassword": 1,
    });
    const trino = m.named("qk-trino").inputs;
    expect(trino.chart).toBe("trino");
    const props: string = trino.values.catalogs.floe;
    expect(props).toContain("connector.name=iceberg");
    expect(props).toContain("iceberg.catalog.type=rest");
    expect(props).toContain("iceberg.rest-catalog.uri=http://lk.floe.svc:8181/catalog");
    expect(props).toContain("iceberg.rest-catalog.warehouse=floe");
    expect(props).toContain("s3.endpoint=http://minio:9000");
    expect(props).toContain("s3.aws-secret-key=${ENV:AWS_SECRET_ACCESS_KEY}");
    expect(trino.values.envFrom).toEqual([{ secretRef: { name: "creds" } }]);

    const init = m.named("qk-clickhouse-init").inputs.stringData["01-floe-iceberg.sql"];
    expect(init).toContain("ENGINE = DataLakeCatalog('http://lk.floe.svc:8181/catalog'");
    expect(init).toContain("catalog_type = 'rest', warehouse = 'floe', storage_endpoint = 'http://minio:9000/lake'");
    const ch = m.named("qk-clickhouse").inputs.values;
    expect(ch.initdbScriptsSecret).toBe("qk-clickhouse-init");
    expect(ch.auth).toMatchObject({ existingSecret: "qk-clickhouse-auth" });
    // The storage key sits in a Secret, marked secret, never in chart values.
    expect(m.secretLeaks(["storage-secret-key-1"])).toEqual([]);
    expect(JSON.stringify(ch)).not.toContain("storage-secret-key-1");
    expect(await valueOf(q.trinoEndpoint)).toBe("http://qk-trino.floe.svc.cluster.local:8080");
    expect(await valueOf(q.clickhouseEndpoint)).toBe("http://qk-clickhouse.floe.svc.cluster.local:8123");
    expect(await isSecret(q.clickhousePassword)).toBe(true);
  });

  test("engines can be switched off", async () => {
    const q = new QueryEngines("qt", { target: "kubernetes", clickhouse: false, catalog, storage: { bucket: "lake", credentialsSecretName: "creds" } });
    await m.settled(q.trinoEndpoint);
    expect(countsUnder(m, "qt")).toEqual({ "kubernetes:helm.sh/v3:Release": 1 });
    expect(await valueOf(q.clickhouseEndpoint)).toBeUndefined();
  });
});

describe("QueryEngines on aws", () => {
  test("an Athena workgroup with encrypted results and enforced configuration", async () => {
    const q = new QueryEngines("qa", { target: "aws", catalog, storage: { bucket: "lake" } });
    await m.settled(q.athenaWorkgroup);
    expect(countsUnder(m, "qa")).toEqual({ "aws:athena/workgroup:Workgroup": 1 });
    const cfg = only(m, "aws:athena/workgroup:Workgroup", "qa").inputs.configuration;
    expect(cfg.enforceWorkgroupConfiguration).toBe(true);
    expect(cfg.resultConfiguration).toEqual({ outputLocation: "s3://lake/athena-results/", encryptionConfiguration: { encryptionOption: "SSE_S3" } });
    expect(await valueOf(q.athenaWorkgroup)).toBe("qa-athena");
  });

  test("optional Trino on EKS signs catalog requests with SigV4 and uses IRSA", async () => {
    const q = new QueryEngines("qe", {
      target: "aws",
      trino: true,
      catalog: { uri: "https://glue.us-east-1.amazonaws.com/iceberg", warehouse: "123" },
      storage: { bucket: "lake" },
      aws: { trinoRoleArn: "arn:aws:iam::1:role/trino" },
    });
    await m.settled(q.trinoEndpoint, q.athenaWorkgroup);
    expect(countsUnder(m, "qe")).toEqual({ "aws:athena/workgroup:Workgroup": 1, "kubernetes:helm.sh/v3:Release": 1 });
    const values = m.named("qe-trino").inputs.values;
    expect(values.catalogs.floe).toContain("iceberg.rest-catalog.security=SIGV4");
    expect(values.catalogs.floe).toContain("iceberg.rest-catalog.signing-name=glue");
    expect(values.serviceAccount.annotations["eks.amazonaws.com/role-arn"]).toBe("arn:aws:iam::1:role/trino");
  });

  test("validation", () => {
    expect(() => new QueryEngines("qv", { target: "aws", clickhouse: true, catalog, storage: { bucket: "b" } })).toThrow(
      /clickhouse = true is not available on target "aws"/,
    );
    expect(() => new QueryEngines("qw", { target: "aws", trino: true, catalog, storage: { bucket: "b" } })).toThrow(
      /aws\.trinoRoleArn = undefined is required when trino is true on aws/,
    );
    expect(() => new QueryEngines("qx", { target: "kubernetes", catalog, storage: { bucket: "b", credentialsSecretName: "c" } })).toThrow(
      /storage\.accessKeyId = undefined and storage\.secretAccessKey are required for ClickHouse on kubernetes\. Fix:/,
    );
  });
});

test("ClickHouse init script quotes string literals (a key with a quote cannot break out)", async () => {
  const q = new QueryEngines("qq", {
    target: "kubernetes",
    trino: false,
    catalog,
    storage: { bucket: "lake", endpoint: "http://minio:9000", accessKeyId: "AK", secretAccessKey: "x'); DROP DATABASE system; --" },
  });
  await m.settled(q.clickhouseEndpoint);
  const init: string = m.named("qq-clickhouse-init").inputs.stringData["01-floe-iceberg.sql"];
  expect(init).toContain("'AK', 'x\\'); DROP DATABASE system; --')");
});
