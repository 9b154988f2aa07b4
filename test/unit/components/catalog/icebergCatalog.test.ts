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
      "kubernetes:core/v1:ServiceAccount": 1,
    });
    const values = only(m, "kubernetes:helm.sh/v3:Release", "ck").inputs.values;
    // authentication by default: Kubernetes service-account tokens for the audience floe-catalog
    expect(values.auth).toEqual({ k8s: { enabled: true, audience: "floe-catalog", createClusterRoleBinding: true } });
    expect(await valueOf(c.tokenAudience)).toBe("floe-catalog");
    const pod = only(m, "kubernetes:batch/v1:Job", "ck").inputs.spec.template.spec;
    expect(pod).toMatchObject({ serviceAccountName: "ck-bootstrap", automountServiceAccountToken: false });
    expect(pod.volumes).toEqual([
      { name: "catalog-token", projected: { sources: [{ serviceAccountToken: { audience: "floe-catalog", expirationSeconds: 3600, path: "token" } }] } },
    ]);
    expect(pod.containers[0].command[2]).toContain('-H "Authorization: Bearer $(cat /var/run/secrets/floe/catalog/token)"');
    expect(values.postgresql.enabled).toBe(false);
    expect(values.externalDatabase).toMatchObject({ type: "postgresql", host_write: "pg-rw", database: "lakekeeper", passwordSecret: "ck-db" });
    // no database CA given: encrypted, not verified
    expect(values.catalog.extraEnv).toContainEqual({ name: "LAKEKEEPER__PG_SSL_MODE", value: "require" });
    const script: string = only(m, "kubernetes:batch/v1:Job", "ck").inputs.spec.template.spec.containers[0].command[2];
    expect(script).toContain("/management/v1/warehouse");
    expect(script).toContain('"bucket":"lake"');
    expect(await valueOf(c.uri)).toBe("http://ck-lakekeeper.floe.svc.cluster.local:8181/catalog");
    expect(m.secretLeaks(["db-password-123"])).toEqual([]);
  });

  test("kubernetes with TLS: a cert-manager certificate, a TLS proxy beside Lakekeeper, an https uri; the object store's CA trusted; no authentication when asked", async () => {
    const c = new IcebergCatalog("ct2", {
      target: "kubernetes",
      storage: { bucket: "lake", endpoint: "https://minio:9000", credentialsSecretName: "creds" },
      kubernetes: {
        database: { host: "pg-rw", database: "lakekeeper", username: "lakekeeper", password: "pw" },
        tls: { issuerName: "floe-tls", caSecretName: "floe-tls-ca" },
        trustedCaSecretName: "floe-tls-ca",
        authentication: "none",
      },
    });
    await m.settled(c.uri);
    expect(await valueOf(c.uri)).toBe("https://ct2-lakekeeper-tls.floe.svc.cluster.local:8443/catalog");
    expect(await valueOf(c.caSecretName)).toBe("floe-tls-ca");
    expect(await valueOf(c.tokenAudience)).toBeUndefined();
    const cert = only(m, "kubernetes:cert-manager.io/v1:Certificate", "ct2").inputs;
    expect(cert.spec).toMatchObject({
      secretName: "ct2-lakekeeper-tls",
      issuerRef: { group: "cert-manager.io", kind: "Issuer", name: "floe-tls" },
      dnsNames: expect.arrayContaining(["ct2-lakekeeper-tls.floe.svc.cluster.local", "ct2-lakekeeper-tls"]),
    });
    const values = only(m, "kubernetes:helm.sh/v3:Release", "ct2").inputs.values;
    expect(values.auth).toBeUndefined();
    const proxy = values.catalog.extraContainers[0];
    expect(proxy.args).toEqual(expect.arrayContaining(["--listen=0.0.0.0:8443", "--target=127.0.0.1:8181", "--disable-authentication"]));
    expect(values.catalog.extraEnv).toEqual(
      expect.arrayContaining([
        { name: "LAKEKEEPER__BASE_URI", value: "https://ct2-lakekeeper-tls.floe.svc.cluster.local:8443" },
        { name: "SSL_CERT_FILE", value: "/etc/floe-trusted-ca/ca.crt" },
      ]),
    );
    // only ca.crt of the CA Secret is mounted, never a key
    expect(values.catalog.extraVolumes).toContainEqual({
      name: "floe-trusted-ca",
      secret: { secretName: "floe-tls-ca", items: [{ key: "ca.crt", path: "ca.crt" }] },
    });
    const svc = only(m, "kubernetes:core/v1:Service", "ct2").inputs.spec;
    expect(svc.ports).toEqual([{ name: "https", port: 8443, targetPort: "https", protocol: "TCP" }]);
    const script: string = only(m, "kubernetes:batch/v1:Job", "ct2").inputs.spec.template.spec.containers[0].command[2];
    expect(script).toContain('c() { curl --cacert /etc/floe-tls/ca.crt "$@"; }');
    expect(script).not.toContain("Authorization");
  });

  test("kubernetes: incoherent authentication and TLS inputs are refused, naming the input", () => {
    const base = { target: "kubernetes", storage: { bucket: "lake", credentialsSecretName: "creds" } } as const;
    const database = { host: "h", database: "d", username: "u", password: "p" };
    expect(() => new IcebergCatalog("cx1", { ...base, kubernetes: { database, authentication: "oidc" } })).toThrow(/kubernetes\.authentication/);
    expect(() => new IcebergCatalog("cx2", { ...base, kubernetes: { database, authentication: "none", tokenAudience: "x" } })).toThrow(
      /kubernetes\.authentication.*turns authentication off/,
    );
    expect(() => new IcebergCatalog("cx3", { ...base, kubernetes: { database, tokenAudience: "a b" } })).toThrow(/kubernetes\.tokenAudience/);
    expect(() => new IcebergCatalog("cx4", { ...base, kubernetes: { database, tls: { issuerName: "i", issuerKind: "CA", caSecretName: "c" } } })).toThrow(
      /kubernetes\.tls\.issuerKind/,
    );
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
