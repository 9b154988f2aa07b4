/**
 * Every object the kubernetes target declares, in every piece combination, validated strictly
 * against the real schemas: Kubernetes' OpenAPI v3 schemas (the oldest release CloudNativePG 1.27
 * supports and the newest the Go module proxy serves) and the CloudNativePG CRDs, fetched by
 * scripts/install-k8s-schemas.sh. The Helm charts that can be obtained from a registry (MinIO) are
 * rendered with the values floe passes, and their output validated too; the values keys floe
 * passes must exist in the chart. A misspelt field anywhere fails (see the last describe block).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import * as YAML from "yaml";
import * as pulumi from "@pulumi/pulumi";
import { BlueGreenUpgrade, CdcWriter, DataPlatform, DatabaseBranch, Pooler, PostgresCluster, QueryEngines, type DataPlatformArgs } from "../../../components";
import { installFloeMocks, type FloeMocks, type RecordedResource } from "../../../components/testing";
import {
  K8sValidator,
  chartVersion,
  installSchemas,
  manifestsFromResources,
  renderChart,
  unknownValues,
  references,
  unresolvedReferences,
  type HelmRelease,
  type Manifest,
  type Problem,
  type SchemaVersions,
} from "../../../scripts/k8s-validate";

/** Charts floe installs that no registry reachable here publishes (docs/kubernetes-schemas.md). */
const UNOBTAINABLE_CHARTS = ["cloudnative-pg", "lakekeeper", "trino", "oci://registry-1.docker.io/bitnamicharts/clickhouse"];

interface Scenario {
  name: string;
  build(name: string): pulumi.Input<unknown>[];
  /** What the user brings, as "Kind/name": the references to it are not expected to resolve. */
  external?: string[];
}

function platform(args: DataPlatformArgs): Scenario["build"] {
  return (name) => {
    const p = new DataPlatform(name, args);
    return [
      p.connectionString,
      p.connectionSecret,
      p.cdc!.writers,
      p.catalogUri,
      p.poolerEndpoint,
      p.trinoEndpoint,
      p.clickhouseEndpoint,
      p.upgradeStatePaths,
      p.upgrade?.jobName,
    ];
  };
}

const CITUS = "example.com/cnpg-citus:16";
const EXTERNAL_S3 = {
  existingEndpoint: "https://s3.eu-central-1.example.com",
  existingAccessKeyId: "AKIAEXAMPLE",
  existingSecretAccessKey: pulumi.secret("example-secret-key"),
};

const SCENARIOS: Scenario[] = [
  { name: "default", build: platform({ target: "kubernetes" }) },
  { name: "sharded", build: platform({ target: "kubernetes", postgres: { shards: 3, kubernetes: { citusImage: CITUS } } }) },
  {
    name: "sharded-external-s3-no-engines",
    build: platform({
      target: "kubernetes",
      postgres: { shards: 2, kubernetes: { citusImage: CITUS } },
      storage: { kubernetes: EXTERNAL_S3 },
      query: { trino: false, clickhouse: false },
    }),
  },
  {
    name: "bring-your-own",
    build: platform({
      target: "kubernetes",
      namespace: "data",
      createNamespace: false,
      postgres: {
        kubernetes: {
          installOperator: false,
          backup: { destinationPath: "s3://backups/floe", credentialsSecretName: "backup-credentials", retentionPolicy: "7d", schedule: "0 30 2 * * *" },
        },
      },
      storage: { kubernetes: EXTERNAL_S3 },
      catalog: { existingUri: "https://catalog.example.com/catalog", existingWarehouse: "lake" },
    }),
    external: ["Secret/backup-credentials"],
  },
  {
    name: "upgrade",
    build: platform({ target: "kubernetes", pooler: { implementation: "pgbouncer", configStorageClass: "efs" }, upgrade: { toVersion: 17, budgetMs: 2000 } }),
  },
  { name: "upgrade-green-only", build: platform({ target: "kubernetes", pooler: { implementation: "pgbouncer" }, upgrade: { toVersion: 17, run: false } }) },
  { name: "tls-off-no-catalog-auth", build: platform({ target: "kubernetes", tls: { enabled: false }, catalog: { authentication: "none" } }) },
  {
    name: "own-cluster-issuer",
    build: platform({
      target: "kubernetes",
      tls: { issuerName: "corp-ca", issuerKind: "ClusterIssuer", caSecretName: "corp-ca-bundle", installCertManager: false },
      catalog: { tokenAudience: "lake", openIdProviderUri: "https://idp.example.com/realms/data", openIdAudience: "lakekeeper" },
    }),
    external: ["Secret/corp-ca-bundle"],
  },
  { name: "trino-only", build: platform({ target: "kubernetes", query: { clickhouse: false, kubernetes: { trinoWorkers: 0 } } }) },
  { name: "clickhouse-only", build: platform({ target: "kubernetes", query: { trino: false } }) },
  {
    name: "tuned",
    build: platform({
      target: "kubernetes",
      postgres: {
        version: 17,
        instances: 3,
        database: "orders",
        kubernetes: {
          imageName: "ghcr.io/cloudnative-pg/postgresql:17.6",
          storageClass: "fast",
          storageSize: "100Gi",
          resources: { requests: { cpu: "2", memory: "8Gi" }, limits: { memory: "8Gi" } },
          serverTLSSecret: "pg-server-tls",
          serverCASecret: "pg-server-ca",
        },
      },
      pooler: { poolMode: "session", instances: 3, maxClientConnections: 5000, defaultPoolSize: 50 },
      storage: { bucketName: "lake", kubernetes: { storageClass: "fast", storageSize: "1Ti", resources: { requests: { cpu: "1", memory: "4Gi" } } } },
      catalog: { replicas: 3, warehouse: "prod", namespace: "raw" },
      cdc: {
        image: "registry.example.com/floe:1.2.3",
        commitIntervalMs: 500,
        tables: [{ source: "public.orders" }, { source: "public.events", mode: "changelog" }],
      },
      query: { kubernetes: { trinoWorkers: 4 } },
    }),
    external: ["Secret/pg-server-tls", "Secret/pg-server-ca"],
  },
  {
    name: "postgres-alone",
    build: (name) => {
      const a = new PostgresCluster(`${name}-a`, { target: "kubernetes", roles: { manage: false } });
      const b = new PostgresCluster(`${name}-b`, {
        target: "kubernetes",
        roles: { manage: false },
        kubernetes: { namespace: "pg", backup: { destinationPath: "s3://bucket/pg", credentialsSecretName: "aws-creds" } },
      });
      return [a.host, a.adminSecretName, b.host, b.adminSecretName];
    },
    external: ["Secret/aws-creds"],
  },
  {
    name: "pooler-alone",
    build: (name) => {
      const p = new Pooler(name, { target: "kubernetes", kubernetes: { clusterName: "pg", parameters: { server_idle_timeout: "300" } } });
      return [p.host, p.cutoverServiceAccount];
    },
    external: ["Cluster/pg"],
  },
  {
    name: "branches",
    build: (name) => {
      const s = new DatabaseBranch(`${name}-snap`, { target: "kubernetes", kubernetes: { volumeSnapshotName: "pg-1-snapshot" } });
      const b = new DatabaseBranch(`${name}-backup`, {
        target: "kubernetes",
        branchName: "feature-x",
        kubernetes: { backupName: "pg-daily-20260101", database: "orders", storageSize: "20Gi" },
      });
      return [s.connectionString, b.connectionString];
    },
    external: ["VolumeSnapshot/pg-1-snapshot", "Backup/pg-daily-20260101"],
  },
  {
    name: "upgrade-alone",
    build: (name) => {
      const u = new BlueGreenUpgrade(name, {
        target: "kubernetes",
        toVersion: 17,
        blueUrl: pulumi.secret("postgres://postgres:pw@pg-rw.floe.svc.cluster.local:5432/app"),
        poolerAdminUrl: pulumi.secret("postgres://admin:pw@pooler.floe.svc.cluster.local:5432/pgbouncer"),
        roles: [{ username: "app", password: pulumi.secret("app-pw") }],
        kubernetes: { poolerConfigClaim: "pooler-config", storageClass: "standard", instances: 1 },
      });
      return [u.greenHost, u.jobName];
    },
    external: ["PersistentVolumeClaim/pooler-config"],
  },
  {
    name: "cdc-alone",
    build: (name) => {
      const c = new CdcWriter(name, {
        target: "kubernetes",
        sources: [
          { name: "shard-0", host: "pg-shard-0-rw.floe.svc.cluster.local" },
          { name: "shard-1", host: "pg-shard-1-rw.floe.svc.cluster.local", port: 5433, slot: "floe_s1" },
        ],
        database: "app",
        replicationUsername: "floe_replication",
        replicationPassword: pulumi.secret("pw"),
        publication: "floe",
        warehouseLocation: "s3://lake/warehouse",
        storage: { endpoint: "https://s3.example.com", accessKeyId: "AK", secretAccessKey: pulumi.secret("SK") },
        catalog: { uri: "https://catalog.example.com/catalog", warehouse: "lake" },
        kubernetes: { egressPorts: [5432, 5433, 443, 53], resources: { requests: { cpu: "2", memory: "2Gi" }, limits: { memory: "3Gi" } } },
      });
      return [c.writers, c.serviceAccountName];
    },
  },
  {
    name: "aws-trino-on-eks",
    build: (name) => {
      const q = new QueryEngines(name, {
        target: "aws",
        trino: true,
        athena: false,
        catalog: { uri: "https://glue.us-east-1.amazonaws.com/iceberg", warehouse: "123456789012" },
        storage: { bucket: "lake" },
        aws: { trinoRoleArn: "arn:aws:iam::123456789012:role/trino" },
      });
      return [q.trinoEndpoint];
    },
  },
];

let mocks: FloeMocks;
let dir: string;
let versions: SchemaVersions;
const validators: K8sValidator[] = [];
const declared = new Map<string, { manifests: { resource: string; manifest: Manifest }[]; releases: HelmRelease[] }>();

/** The resources whose top-level ancestor is `root` or named `root-…`. */
function under(all: RecordedResource[], root: string): RecordedResource[] {
  const byUrn = new Map(all.map((r) => [r.urn, r]));
  return all.filter((r) => {
    let cur = r;
    while (cur.parentUrn && byUrn.has(cur.parentUrn)) cur = byUrn.get(cur.parentUrn)!;
    return cur.name === root || cur.name.startsWith(`${root}-`);
  });
}

function report(problems: Problem[]): string {
  return problems.map((p) => `${p.object}: ${p.path || "/"}: ${p.message}`).join("\n");
}

beforeAll(async () => {
  ({ dir, versions } = installSchemas());
  for (const k of versions.kubernetes) validators.push(new K8sValidator(dir, versions, k.version));
  mocks = await installFloeMocks();
  for (const s of SCENARIOS) {
    const root = `k${SCENARIOS.indexOf(s)}`;
    await mocks.settled(...s.build(root));
    declared.set(s.name, manifestsFromResources(under(mocks.resources, root)));
  }
});

describe("the kubernetes target's objects against the Kubernetes and CloudNativePG schemas", () => {
  test.each(SCENARIOS.map((s) => s.name))("%s: every object is valid on every Kubernetes version", (name) => {
    const { manifests } = declared.get(name)!;
    if (name !== "aws-trino-on-eks") expect(manifests.length).toBeGreaterThan(0);
    for (const v of validators) {
      const problems = manifests.flatMap(({ manifest }) => v.validate(manifest));
      if (problems.length) throw new Error(`Kubernetes ${v.kubernetesVersion}, CloudNativePG ${v.cnpgVersion}:\n${report(problems)}`);
    }
  });

  test("the scenarios cover every kind the target declares", () => {
    const kinds = new Set([...declared.values()].flatMap((d) => d.manifests.map(({ manifest: m }) => `${m.apiVersion}/${m.kind}`)));
    expect([...kinds].sort()).toEqual(
      [
        "apps/v1/Deployment",
        "batch/v1/Job",
        "cert-manager.io/v1/Certificate",
        "cert-manager.io/v1/Issuer",
        "networking.k8s.io/v1/NetworkPolicy",
        "postgresql.cnpg.io/v1/Cluster",
        "postgresql.cnpg.io/v1/Pooler",
        "postgresql.cnpg.io/v1/ScheduledBackup",
        "rbac.authorization.k8s.io/v1/Role",
        "rbac.authorization.k8s.io/v1/RoleBinding",
        "v1/ConfigMap",
        "v1/Namespace",
        "v1/PersistentVolumeClaim",
        "v1/Secret",
        "v1/Service",
        "v1/ServiceAccount",
      ].sort(),
    );
    const total = [...declared.values()].reduce((n, d) => n + d.manifests.length, 0);
    const cel = validators[0].celRules("postgresql.cnpg.io/v1", "Cluster");
    expect(cel.length).toBeGreaterThan(0);
    console.log(
      `validated ${total} objects in ${declared.size} scenarios against Kubernetes ${validators.map((v) => v.kubernetesVersion).join(" and ")} + CloudNativePG ${versions.cnpg.version} and cert-manager ${versions.certManager.version} CRDs; ` +
        `Cluster CEL rules evaluated:\n  ${cel.join("\n  ")}`,
    );
  });
});

const renderCache = new Map<string, Manifest[]>();
/** A chart floe installs that is rendered here (MinIO, cert-manager), for one release (cached: several tests read it). */
function render(chart: "minio" | "cert-manager", r: HelmRelease, kubernetesVersion: string): Manifest[] {
  const key = `${chart}|${JSON.stringify(r)}|${kubernetesVersion}`;
  if (!renderCache.has(key)) renderCache.set(key, renderChart(`${dir}/${versions.helm.bin}`, `${dir}/${versions.charts[chart].dir}`, r, kubernetesVersion));
  return renderCache.get(key)!;
}
const renderMinio = (r: HelmRelease, kubernetesVersion: string) => render("minio", r, kubernetesVersion);
/** The rendered output of every chart floe installs that can be rendered here. */
const renderedCharts = (releases: HelmRelease[], kubernetesVersion: string) =>
  releases.filter((r) => r.chart === "minio" || r.chart === "cert-manager").flatMap((r) => render(r.chart as "minio" | "cert-manager", r, kubernetesVersion));

/** kubernetes-validate --strict on these objects for Kubernetes vX.Y: its exit code and per-object verdict lines. */
function peerValidate(objects: Manifest[], kubernetesVersion: string): { status: number | null; passed: number; failures: string[]; output: string } {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "floe-kv-"));
  try {
    const file = path.join(tmp, "objects.yaml");
    fs.writeFileSync(file, objects.map((m) => YAML.stringify(m)).join("---\n"));
    const minor = kubernetesVersion.replace(/^v(\d+\.\d+)\..*$/, "$1.0");
    const r = spawnSync(`${dir}/${versions.peer.bin}`, ["--strict", "-k", minor, file], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    const output = `${r.stdout}${r.stderr}`;
    const lines = output.split("\n");
    return {
      status: r.status,
      passed: lines.filter((l) => / passed for resource /.test(l)).length,
      failures: lines.filter((l) => /^(ERROR|WARN)/.test(l)),
      output,
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

describe("an independent validator agrees (kubernetes-validate from PyPI, strict, on the built-in kinds)", () => {
  const builtins = () => {
    const newest = validators[validators.length - 1].kubernetesVersion;
    return [...declared.values()]
      .flatMap((d) => [...d.manifests.map((x) => x.manifest), ...renderedCharts(d.releases, newest)])
      .filter((m) => !m.apiVersion.includes(".cnpg.io/") && !m.apiVersion.startsWith("cert-manager.io/"));
  };

  test.each(["v1.31.14", "v1.37.2"])("Kubernetes %s: every object passes", (v) => {
    const objects = builtins();
    expect(objects.length).toBeGreaterThan(100);
    const r = peerValidate(objects, v);
    if (r.status !== 0 || r.failures.length || r.passed !== objects.length)
      throw new Error(
        `${versions.peer.name} ${versions.peer.version}: exit ${r.status}, ${r.passed}/${objects.length} passed\n${r.failures.join("\n") || r.output.slice(0, 2000)}`,
      );
  });

  test("and fails the misspelt field k8s-validate.ts fails", () => {
    const d = JSON.parse(JSON.stringify(declared.get("default")!.manifests.find(({ manifest: m }) => m.kind === "Deployment")!.manifest));
    d.spec.template.spec.containers[0].imagePullPolicyy = "Always";
    const r = peerValidate([d], "v1.37.2");
    expect(r.status).not.toBe(0);
    expect(r.failures).toEqual([expect.stringContaining("'imagePullPolicyy' was unexpected")]);
    expect(validators[validators.length - 1].validate(d)).toEqual([expect.objectContaining({ message: 'unknown field "imagePullPolicyy"' })]);
  });
});

describe("references between the objects", () => {
  test.each(SCENARIOS.map((s) => s.name))(
    "%s: every Secret, ConfigMap, claim, ServiceAccount, Role and CNPG object referred to is declared (or brought by the user)",
    (name) => {
      const d = declared.get(name)!;
      const newest = validators[validators.length - 1].kubernetesVersion;
      const objects = [...d.manifests.map((x) => x.manifest), ...renderedCharts(d.releases, newest)];
      if (name !== "aws-trino-on-eks") expect(objects.flatMap(references).length).toBeGreaterThan(0);
      const problems = unresolvedReferences(objects, SCENARIOS.find((s) => s.name === name)!.external);
      if (problems.length) throw new Error(report(problems));
    },
  );

  test("a reference to a Secret key that does not exist fails", () => {
    const c = JSON.parse(JSON.stringify(declared.get("default")!.manifests.find(({ manifest: m }) => m.kind === "Cluster")!.manifest));
    c.spec.backup.barmanObjectStore.s3Credentials.secretAccessKey.key = "SECRET_ACCESS_KEY";
    c.spec.superuserSecret.name = "k0-postgres-superuserr";
    const others = declared
      .get("default")!
      .manifests.map((x) => x.manifest)
      .filter((m) => m.kind !== "Cluster");
    expect(unresolvedReferences([...others, c]).map((p) => p.message)).toEqual([
      "refers to Secret floe/k0-postgres-superuserr, which nothing declares",
      expect.stringMatching(/^refers to key "SECRET_ACCESS_KEY" of Secret floe\/k0-storage-credentials, which has ACCESS_KEY_ID, ACCESS_SECRET_KEY/),
    ]);
  });
});

describe("Helm charts: rendered with the values floe passes, output validated", () => {
  const releases = () => [...declared.entries()].flatMap(([s, d]) => d.releases.map((r) => ({ scenario: s, ...r })));

  test("every chart floe installs is either rendered here or listed as not obtainable", () => {
    const charts = new Set(releases().map((r) => r.chart));
    const renderable = new Set(Object.keys(versions.charts));
    expect([...charts].filter((c) => !renderable.has(c)).sort()).toEqual([...UNOBTAINABLE_CHARTS].sort());
    expect([...renderable].every((c) => charts.has(c))).toBe(true);
  });

  test("MinIO: the chart version floe pins, values keys the chart has, and a valid rendering on every Kubernetes version", () => {
    const chartDir = `${dir}/${versions.charts.minio.dir}`;
    const minio = releases().filter((r) => r.chart === "minio");
    expect(minio.length).toBeGreaterThanOrEqual(5);
    let objects = 0;
    const problems: Problem[] = [];
    for (const r of minio) {
      expect({ release: r.resource, version: r.version }).toEqual({ release: r.resource, version: chartVersion(chartDir) });
      problems.push(...unknownValues(chartDir, r.values, "minio").map((p) => ({ ...p, object: `${r.scenario}: ${p.object}` })));
      for (const v of validators) {
        const rendered = renderMinio(r, v.kubernetesVersion);
        expect(rendered.map((m) => m.kind)).toEqual(expect.arrayContaining(["Deployment", "Service", "PersistentVolumeClaim", "Job"]));
        objects += rendered.length;
        for (const m of rendered)
          problems.push(...v.validate(m).map((p) => ({ ...p, object: `${r.scenario}: minio (Kubernetes ${v.kubernetesVersion}): ${p.object}` })));
        // floe's assumptions about the chart: the endpoint it hands out (here the backup's) is the
        // release's Service on port 9000, and the bucket user's secret key comes from floe's Secret
        const svc = rendered.find((m) => m.kind === "Service" && m.metadata?.name === r.name) as
          (Manifest & { spec: { ports: { port: number }[] } }) | undefined;
        expect(svc?.spec.ports.map((p) => p.port)).toContain(9000);
        const cluster = declared.get(r.scenario)!.manifests.find(({ manifest: m }) => m.kind === "Cluster")?.manifest as Record<string, any> | undefined;
        const tls = (r.values.tls as { enabled?: boolean; certSecret?: string } | undefined)?.enabled === true;
        expect(cluster?.spec.backup.barmanObjectStore.endpointURL).toBe(`${tls ? "https" : "http"}://${r.name}.${r.namespace}.svc.cluster.local:9000`);
        if (tls) {
          // MinIO serves the certificate cert-manager issued for the name floe hands out
          const cert = declared
            .get(r.scenario)!
            .manifests.find(({ manifest: m }) => m.kind === "Certificate" && (m as any).spec.secretName === (r.values.tls as any).certSecret)!
            .manifest as Record<string, any>;
          expect(cert.spec.dnsNames).toContain(`${r.name}.${r.namespace}.svc.cluster.local`);
          const server = (rendered.find((m) => m.kind === "Deployment") as Record<string, any>).spec.template.spec;
          expect(server.volumes).toContainEqual({
            name: "cert-secret-volume",
            secret: {
              secretName: cert.spec.secretName,
              items: [
                { key: "tls.crt", path: "public.crt" },
                { key: "tls.key", path: "private.key" },
              ],
            },
          });
        }
        const user = (r.values.users as { existingSecret: string; existingSecretKey: string }[])[0];
        const job = rendered.find((m) => m.kind === "Job") as Record<string, any>;
        const sources = job.spec.template.spec.volumes.flatMap((vol: { projected?: { sources: unknown[] } }) => vol.projected?.sources ?? []);
        expect(sources).toContainEqual({ secret: { name: user.existingSecret, items: [expect.objectContaining({ key: user.existingSecretKey })] } });
        // encryption at rest: the server reads floe's KMS env file
        const deployment = rendered.find((m) => m.kind === "Deployment") as Record<string, any>;
        const server = deployment.spec.template.spec.containers[0];
        if (r.values.extraSecret) {
          expect(server.env).toContainEqual({ name: "MINIO_CONFIG_ENV_FILE", value: "/tmp/minio-config-env/config.env" });
          expect(deployment.spec.template.spec.volumes).toContainEqual({ name: "extra-secret", secret: { secretName: r.values.extraSecret } });
        }
        // the platform's NetworkPolicies select the chart's pods by the labels the chart gives them
        const policies = declared
          .get(r.scenario)!
          .manifests.map((x) => x.manifest as Record<string, any>)
          .filter((m) => m.kind === "NetworkPolicy");
        if (policies.length) {
          const selects = (name: string, pod: Record<string, string>) =>
            Object.entries(policies.find((p) => p.metadata.name === name)!.spec.podSelector.matchLabels as Record<string, string>).every(
              ([k, val]) => pod[k] === val,
            );
          expect(selects("floe-minio", deployment.spec.template.metadata.labels)).toBe(true);
          expect(selects("floe-minio-job", job.spec.template.metadata.labels)).toBe(true);
          expect(selects("floe-minio", job.spec.template.metadata.labels)).toBe(false);
        }
      }
    }
    if (problems.length) throw new Error(report(problems));
    console.log(`MinIO chart ${chartVersion(chartDir)} (${versions.charts.minio.module}): ${minio.length} releases, ${objects} rendered objects valid`);
  });
});

describe("cert-manager: its chart rendered with floe's values, and the objects floe gives it", () => {
  test("the chart version floe pins, values keys the chart has, a valid rendering on every Kubernetes version that carries the CRDs floe's objects need", () => {
    const chartDir = `${dir}/${versions.charts["cert-manager"].dir}`;
    const releases = [...declared.entries()].flatMap(([scenario, d]) => d.releases.filter((r) => r.chart === "cert-manager").map((r) => ({ scenario, ...r })));
    expect(releases.length).toBeGreaterThanOrEqual(9);
    const problems: Problem[] = [];
    let objects = 0;
    for (const r of releases) {
      expect({ release: r.resource, version: r.version }).toEqual({ release: r.resource, version: chartVersion(chartDir) });
      problems.push(...unknownValues(chartDir, r.values, "cert-manager").map((p) => ({ ...p, object: `${r.scenario}: ${p.object}` })));
      for (const v of validators) {
        const rendered = render("cert-manager", r, v.kubernetesVersion);
        objects += rendered.length;
        for (const m of rendered)
          problems.push(...v.validate(m).map((p) => ({ ...p, object: `${r.scenario}: cert-manager (Kubernetes ${v.kubernetesVersion}): ${p.object}` })));
        // crds.enabled: the chart installs the CRDs of the kinds floe declares
        const crds = rendered.filter((m) => m.kind === "CustomResourceDefinition").map((m) => m.metadata?.name);
        expect(crds).toEqual(expect.arrayContaining(["certificates.cert-manager.io", "issuers.cert-manager.io", "clusterissuers.cert-manager.io"]));
        expect(rendered.filter((m) => m.kind === "Deployment").map((m) => m.metadata?.namespace)).toEqual(["cert-manager", "cert-manager", "cert-manager"]);
      }
    }
    if (problems.length) throw new Error(report(problems));
    console.log(
      `cert-manager chart ${chartVersion(chartDir)} (${versions.charts["cert-manager"].module}): ${releases.length} releases, ${objects} rendered objects valid`,
    );
  });

  test("every server certificate names the Service floe hands out, from the issuer the scenario uses", () => {
    for (const [scenario, d] of declared) {
      const certs = d.manifests.map((x) => x.manifest as Record<string, any>).filter((m) => m.kind === "Certificate" && !m.spec.isCA);
      for (const c of certs) {
        const service = c.spec.dnsNames[0];
        expect(c.spec.dnsNames).toEqual([
          service,
          `${service}.${c.metadata.namespace}`,
          `${service}.${c.metadata.namespace}.svc`,
          `${service}.${c.metadata.namespace}.svc.cluster.local`,
        ]);
        if (scenario === "own-cluster-issuer") expect(c.spec.issuerRef).toEqual({ group: "cert-manager.io", kind: "ClusterIssuer", name: "corp-ca" });
      }
      // the TLS Service in front of Lakekeeper is the first name of Lakekeeper's certificate
      const tlsService = d.manifests
        .map((x) => x.manifest as Record<string, any>)
        .find((m) => m.kind === "Service" && m.metadata.name.endsWith("-lakekeeper-tls"));
      if (tlsService) expect(certs.map((c) => c.spec.dnsNames[0])).toContain(tlsService.metadata.name);
    }
  });
});

describe("a broken object fails", () => {
  const find = (scenario: string, kind: string, pred: (m: Manifest) => boolean = () => true) => {
    const m = declared
      .get(scenario)!
      .manifests.map((x) => x.manifest)
      .find((x) => x.kind === kind && pred(x));
    if (!m) throw new Error(`no ${kind} in ${scenario}`);
    return JSON.parse(JSON.stringify(m)) as Manifest & Record<string, any>;
  };
  const problemsOf = (m: Manifest) => validators.map((v) => v.validate(m));

  test("a misspelt field in a built-in object (the CDC writer's Deployment)", () => {
    const d = find("default", "Deployment");
    d.spec.template.spec.containers[0].imagePullPolicyy = "Always";
    for (const ps of problemsOf(d))
      expect(ps).toEqual([
        { object: expect.stringMatching(/^Deployment floe\//), path: "/spec/template/spec/containers/0", message: 'unknown field "imagePullPolicyy"' },
      ]);
  });

  test("a misspelt field, a wrong type and a bad quantity in a CloudNativePG Cluster", () => {
    const c = find("default", "Cluster");
    c.spec.postgresql.parametrs = { work_mem: "64MB" };
    c.spec.instances = "2";
    c.spec.resources.requests.memory = "1 Gi";
    for (const ps of problemsOf(c)) {
      expect(ps).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ path: "/spec/postgresql", message: 'unknown field "parametrs"' }),
          expect.objectContaining({ path: "/spec/instances", message: "must be integer" }),
          expect.objectContaining({ path: "/spec/resources/requests/memory", message: expect.stringMatching(/^must match pattern/) }),
        ]),
      );
      expect(ps).toHaveLength(3);
    }
  });

  test("a Cluster breaking the CRD's CEL rules", () => {
    const c = find("default", "Cluster");
    c.spec.imageCatalogRef = { apiGroup: "postgresql.cnpg.io", kind: "ImageCatalog", name: "postgresql", major: 16 };
    c.spec.postgresql.synchronous = { method: "any", number: 0 };
    for (const ps of problemsOf(c)) {
      expect(ps).toEqual([
        expect.objectContaining({ path: "/spec/postgresql/synchronous/number", message: expect.stringContaining("(CEL: self > 0)") }),
        expect.objectContaining({ path: "/spec", message: expect.stringContaining("(CEL: !(has(self.imageCatalogRef) && has(self.imageName)))") }),
      ]);
    }
    delete c.spec.imageName;
    c.spec.postgresql.synchronous.number = 1;
    for (const ps of problemsOf(c)) expect(ps).toEqual([]);
  });

  test("a misspelt field deep in a Pooler, an unknown enum value in a ScheduledBackup, a kind with no CRD", () => {
    const p = find("default", "Pooler");
    p.spec.pgbouncer.poolmode = "session";
    for (const ps of problemsOf(p)) expect(ps).toEqual([expect.objectContaining({ path: "/spec/pgbouncer", message: 'unknown field "poolmode"' })]);
    const b = find("default", "ScheduledBackup");
    b.spec.method = "barman";
    for (const ps of problemsOf(b))
      expect(ps).toEqual([expect.objectContaining({ path: "/spec/method", message: expect.stringContaining("must be equal to one of the allowed values") })]);
    for (const ps of problemsOf({ ...b, kind: "ScheduledBackups" }))
      expect(ps).toEqual([
        expect.objectContaining({ path: "/apiVersion", message: expect.stringContaining("no schema for postgresql.cnpg.io/v1/ScheduledBackups") }),
      ]);
  });

  test("a misspelt field and an unknown enum value in a cert-manager Certificate, a misspelt Issuer kind", () => {
    const c = find("default", "Certificate", (m) => (m as any).spec.isCA !== true);
    c.spec.dnsName = c.spec.dnsNames;
    c.spec.privateKey.algorithm = "DSA";
    for (const ps of problemsOf(c))
      expect(ps).toEqual([
        expect.objectContaining({ path: "/spec", message: 'unknown field "dnsName"' }),
        expect.objectContaining({ path: "/spec/privateKey/algorithm", message: expect.stringContaining("must be equal to one of the allowed values") }),
      ]);
    const i = find("default", "Issuer");
    for (const ps of problemsOf({ ...i, spec: { selfSigned: {}, caa: { secretName: "x" } } }))
      expect(ps).toEqual([expect.objectContaining({ path: "/spec", message: 'unknown field "caa"' })]);
  });

  test("names and labels the API server refuses", () => {
    const s = find("upgrade", "Service"); // the pgBouncer Service
    s.metadata!.name = "pg.pooler"; // a Service name is a DNS label: no dots
    s.metadata!.labels = { ...s.metadata!.labels, "app.kubernetes.io/part-of": "floe platform" };
    for (const ps of problemsOf(s)) expect(ps.map((p) => p.path).sort()).toEqual(["/metadata/labels/app.kubernetes.io~1part-of", "/metadata/name"]);
  });

  test("a field newer than the oldest Kubernetes version fails on that version only", () => {
    const d = find("default", "Deployment");
    d.spec.template.spec.containers[0].restartPolicyRules = [{ action: "Restart", exitCodes: { operator: "In", values: [42] } }]; // Kubernetes 1.34
    const [oldest, newest] = [validators[0], validators[validators.length - 1]];
    expect(oldest.kubernetesVersion).toBe("v1.31.14");
    expect(oldest.validate(d)).toEqual([expect.objectContaining({ message: 'unknown field "restartPolicyRules"' })]);
    expect(newest.validate(d)).toEqual([]);
  });

  test("through the components: a misspelt key in the Cluster spec override and in the MinIO helmValues", async () => {
    const root = "broken";
    const p = new DataPlatform(root, {
      target: "kubernetes",
      namespace: "broken",
      postgres: { kubernetes: { spec: { postgresql: { parameters: { work_mem: "64MB" } }, enableSuperuserAcess: false } } },
      storage: { kubernetes: { helmValues: { persistance: { size: "1Gi" } } } },
      query: { trino: false, clickhouse: false },
    });
    await mocks.settled(p.connectionString, p.connectionSecret, p.cdc!.writers, p.catalogUri);
    const { manifests, releases } = manifestsFromResources(under(mocks.resources, root));
    for (const v of validators) {
      expect(manifests.flatMap(({ manifest }) => v.validate(manifest))).toEqual([
        { object: "Cluster broken/broken-postgres", path: "/spec", message: 'unknown field "enableSuperuserAcess"' },
      ]);
    }
    const minio = releases.find((r) => r.chart === "minio")!;
    expect(unknownValues(`${dir}/${versions.charts.minio.dir}`, minio.values, "minio")).toEqual([expect.objectContaining({ path: "/persistance" })]);
  });
});
