// DataPlatform on kubernetes, TLS between the pieces (cert-manager) and authentication on the
// catalog (service-account tokens): who serves which certificate, who trusts which CA, who sends
// which token, and the inputs that turn each off or bring your own.
import { DataPlatform, type DataPlatformArgs } from "../../../../components/platform/dataPlatform";
import type { FloeMocks } from "../../../../components/testing";
import { countsUnder, installFloeMocks, underRoot, valueOf } from "../helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks();
});

async function synth(name: string, args: DataPlatformArgs) {
  const p = new DataPlatform(name, args);
  await m.settled(p.connectionString, p.cdc!.writers, p.catalogUri, p.trinoEndpoint, p.clickhouseEndpoint);
  return p;
}

const writerConfig = (name: string) => JSON.parse(m.named(`${name}-cdc-primary-config`).inputs.stringData["config.json"]);
const writerPod = (name: string) => m.named(`${name}-cdc-primary`).inputs.spec.template.spec;
const caItems = (secretName: string) => ({ secretName, items: [{ key: "ca.crt", path: "ca.crt" }] });

describe("DataPlatform on kubernetes: TLS and catalog authentication by default", () => {
  test("a CA per install issues MinIO's and Lakekeeper's certificates; every client trusts it and sends its token", async () => {
    const p = await synth("tl", { target: "kubernetes" });
    // cert-manager installed, then the CA chain: self-signed issuer -> CA certificate -> CA issuer
    const cm = m.named("tl-cert-manager", "kubernetes:helm.sh/v3:Release").inputs;
    expect(cm).toMatchObject({
      chart: "cert-manager",
      version: "v1.21.2",
      namespace: "cert-manager",
      createNamespace: true,
      values: { crds: { enabled: true } },
    });
    const ca = m.named("tl-tls-ca", "kubernetes:cert-manager.io/v1:Certificate").inputs.spec;
    expect(ca).toMatchObject({ isCA: true, secretName: "tl-tls-ca", issuerRef: { kind: "Issuer", name: "tl-tls-selfsigned" } });
    expect(m.named("tl-tls-issuer", "kubernetes:cert-manager.io/v1:Issuer").inputs.spec).toEqual({ ca: { secretName: "tl-tls-ca" } });
    for (const cert of ["tl-storage-minio-tls", "tl-catalog-lakekeeper-tls"])
      expect(m.named(cert, "kubernetes:cert-manager.io/v1:Certificate").inputs.spec.issuerRef).toEqual({
        group: "cert-manager.io",
        kind: "Issuer",
        name: "tl-tls",
      });

    // MinIO serves its certificate; the endpoint is https
    const minio = m.named("tl-storage-minio", "kubernetes:helm.sh/v3:Release").inputs.values;
    expect(minio.tls).toEqual({ enabled: true, certSecret: "tl-storage-minio-tls", publicCrt: "tls.crt", privateKey: "tls.key" });
    expect(await valueOf(p.storage!.endpoint)).toBe("https://tl-storage-minio.floe.svc.cluster.local:9000");
    expect(await valueOf(p.catalogUri)).toBe("https://tl-catalog-lakekeeper-tls.floe.svc.cluster.local:8443/catalog");

    // Lakekeeper: TLS proxy, MinIO's CA, Kubernetes authentication
    const lk = m.named("tl-catalog-lakekeeper", "kubernetes:helm.sh/v3:Release").inputs.values;
    expect(lk.auth.k8s).toEqual({ enabled: true, audience: "floe-catalog", createClusterRoleBinding: true });
    expect(lk.catalog.extraEnv).toContainEqual({ name: "SSL_CERT_FILE", value: "/etc/floe-trusted-ca/ca.crt" });
    expect(lk.catalog.extraVolumes).toContainEqual({ name: "floe-trusted-ca", secret: caItems("tl-tls-ca") });
    // Lakekeeper -> Postgres: verify-full against CloudNativePG's CA (in the catalog, its migration Job and check-db)
    expect(lk.catalog.extraEnv).toEqual(
      expect.arrayContaining([
        { name: "LAKEKEEPER__PG_SSL_MODE", value: "verifyfull" },
        { name: "LAKEKEEPER__PG_SSL_ROOT_CERT", value: "/etc/floe-pg-ca/ca.crt" },
      ]),
    );
    expect(lk.catalog.extraVolumes).toContainEqual({ name: "floe-pg-ca", secret: caItems("tl-postgres-ca") });
    expect(lk.catalog.extraVolumeMounts).toContainEqual({ name: "floe-pg-ca", mountPath: "/etc/floe-pg-ca", readOnly: true });

    // the CDC writer: both CAs and its token, mounted and named in its config
    const cfg = writerConfig("tl");
    expect(cfg.catalog).toMatchObject({ caFile: "/etc/floe-tls/catalog/ca.crt", tokenFile: "/var/run/secrets/floe/catalog/token" });
    expect(cfg.storage).toMatchObject({ endpoint: "https://tl-storage-minio.floe.svc.cluster.local:9000", caFile: "/etc/floe-tls/storage/ca.crt" });
    const pod = writerPod("tl");
    expect(pod.volumes).toEqual(
      expect.arrayContaining([
        { name: "catalog-ca", secret: caItems("tl-tls-ca") },
        { name: "storage-ca", secret: caItems("tl-tls-ca") },
        { name: "catalog-token", projected: { sources: [{ serviceAccountToken: { audience: "floe-catalog", expirationSeconds: 3600, path: "token" } }] } },
      ]),
    );
    expect(pod.containers[0].volumeMounts).toEqual(
      expect.arrayContaining([
        { name: "catalog-ca", mountPath: "/etc/floe-tls/catalog", readOnly: true },
        { name: "storage-ca", mountPath: "/etc/floe-tls/storage", readOnly: true },
        { name: "catalog-token", mountPath: "/var/run/secrets/floe/catalog", readOnly: true },
      ]),
    );

    // Trino: the token through the token endpoint beside it, the CA in a copy of the JVM truststore
    const trino = m.named("tl-query-trino", "kubernetes:helm.sh/v3:Release").inputs.values;
    expect(trino.catalogs.floe).toContain("iceberg.rest-catalog.security=OAUTH2");
    expect(trino.catalogs.floe).toContain("iceberg.rest-catalog.oauth2.server-uri=http://127.0.0.1:8190/v1/oauth/tokens");
    expect(trino.sidecarContainers.coordinator[0].args).toEqual(["token-endpoint", "--token-file", "/var/run/secrets/floe/catalog/token", "--port", "8190"]);
    expect(trino.coordinator.additionalJVMConfig).toContain("-Djavax.net.ssl.trustStore=/etc/floe-truststore/cacerts");
    expect(trino.worker.additionalVolumes).toContainEqual({ name: "floe-ca", secret: caItems("tl-tls-ca") });
    expect(trino.initContainers.worker[0].command[2]).toContain('/bin/keytool" -importcert -noprompt -trustcacerts -alias floe-ca -file /etc/floe-tls/ca.crt');
    expect(trino.serviceAccount).toEqual({ create: true });

    // ClickHouse: OAuth2 against the token endpoint beside it, the CA in its openSSL client config
    const sql = m.named("tl-query-clickhouse-init").inputs.stringData["01-floe-iceberg.sql"];
    expect(sql).toContain("catalog_credential = 'floe:token-endpoint', oauth_server_uri = 'http://127.0.0.1:8190/v1/oauth/tokens'");
    const ch = m.named("tl-query-clickhouse", "kubernetes:helm.sh/v3:Release").inputs.values;
    expect(ch.extraOverrides).toContain("<caConfig>/etc/floe-tls/ca.crt</caConfig>");
    expect(ch.sidecars[0].name).toBe("catalog-token");

    // the bootstrap Job: the CA and its token
    const script: string = m.named("tl-catalog-bootstrap", "kubernetes:batch/v1:Job").inputs.spec.template.spec.containers[0].command[2];
    expect(script).toContain('c() { curl --cacert /etc/floe-tls/ca.crt -H "Authorization: Bearer $(cat /var/run/secrets/floe/catalog/token)" "$@"; }');
    // CNPG's backups verify MinIO
    expect(m.named("tl-postgres-cluster").inputs.spec.backup.barmanObjectStore.endpointCA).toEqual({ name: "tl-tls-ca", key: "ca.crt" });
    expect(m.secretLeaks()).toEqual([]);
  });
});

describe("turning it off, or bringing your own", () => {
  test("tls.enabled false: plain HTTP endpoints, no cert-manager, no CA anywhere; the tokens stay", async () => {
    const p = await synth("tn", { target: "kubernetes", tls: { enabled: false } });
    const counts = countsUnder(m, "tn");
    expect(counts["kubernetes:cert-manager.io/v1:Certificate"]).toBeUndefined();
    expect(counts["kubernetes:cert-manager.io/v1:Issuer"]).toBeUndefined();
    expect(counts["kubernetes:helm.sh/v3:Release"]).toBe(5);
    expect(await valueOf(p.catalogUri)).toBe("http://tn-catalog-lakekeeper.floe.svc.cluster.local:8181/catalog");
    const cfg = writerConfig("tn");
    expect(cfg.catalog.caFile).toBeUndefined();
    expect(cfg.storage.caFile).toBeUndefined();
    expect(cfg.catalog.tokenFile).toBe("/var/run/secrets/floe/catalog/token");
    expect(m.named("tn-query-clickhouse", "kubernetes:helm.sh/v3:Release").inputs.values.extraOverrides).toBeUndefined();
  });

  test("your ClusterIssuer and CA Secret, cert-manager already installed", async () => {
    await synth("ty", {
      target: "kubernetes",
      tls: { issuerName: "corp-ca", issuerKind: "ClusterIssuer", caSecretName: "corp-ca-bundle", installCertManager: false },
    });
    const counts = countsUnder(m, "ty");
    expect(counts["kubernetes:cert-manager.io/v1:Issuer"]).toBeUndefined();
    expect(counts["kubernetes:cert-manager.io/v1:Certificate"]).toBe(2);
    expect(m.resources.filter((r) => r.name === "ty-cert-manager")).toEqual([]);
    expect(m.named("ty-storage-minio-tls", "kubernetes:cert-manager.io/v1:Certificate").inputs.spec.issuerRef).toEqual({
      group: "cert-manager.io",
      kind: "ClusterIssuer",
      name: "corp-ca",
    });
    expect(writerPod("ty").volumes).toContainEqual({ name: "catalog-ca", secret: caItems("corp-ca-bundle") });
  });

  test("catalog.authentication none: no token anywhere, Lakekeeper does not reach the API server", async () => {
    await synth("ta", { target: "kubernetes", catalog: { authentication: "none" } });
    expect(m.named("ta-catalog-lakekeeper", "kubernetes:helm.sh/v3:Release").inputs.values.auth).toBeUndefined();
    expect(writerConfig("ta").catalog.tokenFile).toBeUndefined();
    const trino = m.named("ta-query-trino", "kubernetes:helm.sh/v3:Release").inputs.values;
    expect(trino.sidecarContainers).toBeUndefined();
    expect(trino.catalogs.floe).not.toContain("OAUTH2");
    const policy = (root: string) =>
      m.resources.find(
        (r) => r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy" && underRoot(m, r, root) && r.inputs.metadata?.name === "floe-catalog",
      )!;
    expect(JSON.stringify(policy("ta").inputs.spec.egress)).not.toContain("6443");
    expect(JSON.stringify(policy("tl").inputs.spec.egress)).toContain("6443");
  });

  test("an existing S3 endpoint: its own TLS, so no MinIO certificate, no SSL_CERT_FILE for Lakekeeper, no storage CA for the writer", async () => {
    await synth("te", {
      target: "kubernetes",
      storage: { kubernetes: { existingEndpoint: "https://s3.corp", existingAccessKeyId: "AK", existingSecretAccessKey: "SK" } },
    });
    expect(m.resources.filter((r) => r.name === "te-storage-minio-tls")).toEqual([]);
    const lk = m.named("te-catalog-lakekeeper", "kubernetes:helm.sh/v3:Release").inputs.values;
    expect(lk.catalog.extraEnv.map((e: { name: string }) => e.name)).not.toContain("SSL_CERT_FILE");
    const cfg = writerConfig("te");
    expect(cfg.storage.caFile).toBeUndefined();
    expect(cfg.catalog.caFile).toBe("/etc/floe-tls/catalog/ca.crt");
    expect(m.named("te-postgres-cluster").inputs.spec.backup.barmanObjectStore.endpointCA).toBeUndefined();
  });

  test.each([
    [{ tls: { issuerName: "corp-ca" } }, /tls\.caSecretName = undefined is required with tls\.issuerName/],
    [{ tls: { caSecretName: "x" } }, /tls\.caSecretName = "x" is set without tls\.issuerName/],
    [{ tls: { enabled: false, issuerName: "corp-ca" } }, /tls\.issuerName = "corp-ca" is set, and tls\.enabled is false/],
    [{ tls: { issuerName: "corp-ca", caSecretName: "c", issuerKind: "Vault" } }, /tls\.issuerKind/],
    [{ catalog: { authentication: "basic" } }, /kubernetes\.authentication/],
  ] as [Partial<DataPlatformArgs>, RegExp][])("refused: %j", (args, message) => {
    expect(() => new DataPlatform("tv", { target: "kubernetes", ...args })).toThrow(message);
  });
});
