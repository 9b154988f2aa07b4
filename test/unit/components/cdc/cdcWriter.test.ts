import { CdcWriter, DEFAULT_IMAGE } from "../../../../components/cdc/cdcWriter";
import { X509Certificate } from "node:crypto";
import { parseCdcConfig } from "../../../../runtime/cdc/config";
import { resolveTls, rootCertificates } from "../../../../runtime/core/postgres-tls";
import type { FloeMocks } from "../../../../components/testing";
import { all, countsUnder, installFloeMocks, only, valueOf } from "../helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks();
});

const base = {
  database: "app",
  replicationUsername: "floe_replication",
  replicationPassword: "repl-password-xyz",
  catalog: { uri: "http://lk:8181/catalog", warehouse: "floe" },
  warehouseLocation: "s3://lake/warehouse",
};

describe("CdcWriter on kubernetes", () => {
  test("one Deployment per source (replicas 1, Recreate, probes), a config Secret each, one ServiceAccount and NetworkPolicy", async () => {
    const w = new CdcWriter("wk", {
      target: "kubernetes",
      ...base,
      sources: [
        { name: "shard-0", host: "pg-shard-0-rw" },
        { name: "shard-1", host: "pg-shard-1-rw" },
      ],
      storage: { endpoint: "http://minio:9000", forcePathStyle: true, accessKeyId: "AK", secretAccessKey: "storage-key-abc" },
    });
    await m.settled(w.writers);
    expect(countsUnder(m, "wk")).toEqual({
      "kubernetes:core/v1:ServiceAccount": 1,
      "kubernetes:networking.k8s.io/v1:NetworkPolicy": 1,
      "kubernetes:core/v1:Secret": 2,
      "kubernetes:apps/v1:Deployment": 2,
    });
    for (const d of all(m, "kubernetes:apps/v1:Deployment", "wk")) {
      const spec = d.inputs.spec;
      expect(spec.replicas).toBe(1);
      expect(spec.strategy).toEqual({ type: "Recreate" });
      const c = spec.template.spec.containers[0];
      expect(c.image).toBe(DEFAULT_IMAGE);
      expect(c.livenessProbe.httpGet).toEqual({ path: "/livez", port: 9187 });
      expect(c.readinessProbe.httpGet).toEqual({ path: "/healthz", port: 9187 });
      expect(c.resources.requests).toEqual({ cpu: "1", memory: "1Gi" });
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      expect(spec.template.spec.serviceAccountName).toBe("wk");
    }
    // The config is rendered through the runtime's contract and is valid for it.
    const secret = m.named("wk-shard-1-config");
    expect(secret.inputs.immutable).toBe(true);
    const cfg = parseCdcConfig(JSON.parse(secret.inputs.stringData["config.json"]));
    // verified by default; no CA given here, so the public CAs (a source with caSecretName: below)
    expect(cfg.sources).toEqual([
      {
        name: "shard-1",
        connectionString: "postgresql://floe_replication:repl-password-xyz@pg-shard-1-rw:5432/app?sslmode=verify-full",
        publication: "floe",
        origin: "any",
        initialCopy: true,
        followUpgrades: true,
      },
    ]);
    expect(cfg.catalog).toMatchObject({ type: "rest", uri: "http://lk:8181/catalog", warehouse: "floe" });
    expect(cfg.storage).toMatchObject({ endpoint: "http://minio:9000", forcePathStyle: true, secretAccessKey: "storage-key-abc" });
    expect(cfg.http).toEqual({ host: "0.0.0.0", port: 9187 });
    // ...and it is secret end to end.
    expect(m.secretLeaks(["repl-password-xyz", "storage-key-abc"])).toEqual([]);
    const np = only(m, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "wk").inputs.spec;
    expect(np.policyTypes).toEqual(["Ingress", "Egress"]);
    expect(np.ingress[0].ports).toEqual([{ protocol: "TCP", port: 9187 }]);
    expect(await valueOf(w.writers)).toEqual(["wk-shard-0", "wk-shard-1"]);
  });
});

describe("CdcWriter TLS to the sources (issue 11 item 3)", () => {
  const tls = (cfg: ReturnType<typeof parseCdcConfig>) => resolveTls(cfg.sources[0].connectionString, cfg.sources[0]);

  test("kubernetes: the source's CA Secret (CloudNativePG's <cluster>-ca) is mounted and verified with verify-full", async () => {
    const w = new CdcWriter("wt", {
      target: "kubernetes",
      ...base,
      sources: [{ name: "primary", host: "pg-rw.floe.svc.cluster.local", caSecretName: "pg-ca" }],
    });
    await m.settled(w.writers);
    const pod = m.named("wt-primary").inputs.spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: "ca", secret: { secretName: "pg-ca", items: [{ key: "ca.crt", path: "ca.crt" }] } });
    // not under the read-only config volume, and a whole-volume mount (no subPath) so a rotated CA arrives
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: "ca", mountPath: "/etc/floe-ca", readOnly: true });
    const cfg = parseCdcConfig(JSON.parse(m.named("wt-primary-config").inputs.stringData["config.json"]));
    expect(cfg.sources[0].sslrootcert).toBe("/etc/floe-ca/ca.crt");
    expect(tls(cfg)).toMatchObject({ sslmode: "verify-full", sslrootcert: "/etc/floe-ca/ca.crt", verifies: true });
  });

  test("kubernetes: verify-ca when asked (a certificate that does not name the service), still with the mounted CA", async () => {
    const w = new CdcWriter("wtc", {
      target: "kubernetes",
      ...base,
      sslmode: "verify-ca",
      sources: [{ name: "primary", host: "pg-rw", caSecretName: "pg-ca" }],
    });
    await m.settled(w.writers);
    const cfg = parseCdcConfig(JSON.parse(m.named("wtc-primary-config").inputs.stringData["config.json"]));
    expect(tls(cfg)).toMatchObject({ sslmode: "verify-ca", sslrootcert: "/etc/floe-ca/ca.crt", verifies: true });
  });

  test("aws: verify-full against the RDS CA bundle shipped with floe (aws-rds), which holds real certificates", async () => {
    const w = new CdcWriter("wtaws", {
      target: "aws",
      ...base,
      sources: [{ name: "primary", host: "db.cluster-abc.us-east-1.rds.amazonaws.com" }],
      aws: { vpcId: "vpc-1", subnetIds: ["s-1"], bucketArn: "arn:aws:s3:::lake" },
    });
    await m.settled(w.writers);
    const cfg = parseCdcConfig(JSON.parse(only(m, "aws:secretsmanager/secretVersion:SecretVersion", "wtaws").inputs.secretString));
    expect(tls(cfg)).toMatchObject({ sslmode: "verify-full", sslrootcert: "aws-rds", verifies: true });
    const ca = rootCertificates("aws-rds", "test") as string[];
    // the RDS / Aurora regional CAs, and the public roots RDS Proxy's certificates chain to
    const subjects = ca.map((c) => new X509Certificate(c).subject);
    expect(subjects.filter((s) => /Amazon RDS .*Root CA/.test(s)).length).toBeGreaterThan(10);
    expect(subjects.filter((s) => /CN=Amazon Root CA 1/.test(s))).toHaveLength(1);
  });

  test.each([
    [
      "a downgrading sslmode",
      { sslmode: "prefer" },
      [{ name: "a", host: "h" }],
      /sslmode = "prefer" is not one of "disable", "require", "verify-ca", "verify-full"/,
    ],
    [
      "a CA from two places",
      { sslrootcert: "/ca.pem" },
      [{ name: "a", host: "h", caSecretName: "pg-ca" }],
      /sslrootcert = "\/ca\.pem" is set, and sources\[a\]\.caSecretName too\. Fix: keep one/,
    ],
    ["a CA with TLS off", { sslmode: "disable", sslrootcert: "/ca.pem" }, [{ name: "a", host: "h" }], /sslmode = "disable" turns TLS off, and a CA is given/],
  ] as [string, any, any[], RegExp][])("kubernetes refuses %s", (_, over, sources, message) => {
    expect(() => new CdcWriter("wtv", { target: "kubernetes", ...base, sources, ...over })).toThrow(message);
  });

  test("a Kubernetes CA Secret on aws is refused", () => {
    expect(
      () =>
        new CdcWriter("wtv2", {
          target: "aws",
          ...base,
          sources: [{ name: "a", host: "h", caSecretName: "pg-ca" }],
          aws: { vpcId: "vpc-1", subnetIds: ["s-1"], bucketArn: "arn:aws:s3:::lake" },
        }),
    ).toThrow(/sources\[a\]\.caSecretName = "\(set\)" is a Kubernetes Secret, which this target cannot mount/);
  });

  test.each([
    ["catalog.caSecretName", { catalog: { ...base.catalog, caSecretName: "ca" } }],
    ["storage.caSecretName", { storage: { caSecretName: "ca" } }],
    ["catalog.tokenAudience", { catalog: { ...base.catalog, tokenAudience: "floe-catalog" } }],
  ] as [string, object][])("%s on aws is refused (nothing mounts it there)", (input, over) => {
    expect(
      () =>
        new CdcWriter(`wtv-${input.replace(/\W/g, "").toLowerCase()}`, {
          target: "aws",
          ...base,
          sources: [{ name: "a", host: "h" }],
          ...over,
          aws: { vpcId: "vpc-1", subnetIds: ["s-1"], bucketArn: "arn:aws:s3:::lake" },
        }),
    ).toThrow(new RegExp(`${input.replace(".", "\\.")} = "\\(set\\)" needs a Kubernetes Secret or service-account token, which this target cannot mount`));
  });

  test("a token and OAuth2 client credentials at once are refused", () => {
    expect(
      () =>
        new CdcWriter("wtv3", {
          target: "kubernetes",
          ...base,
          sources: [{ name: "a", host: "h" }],
          catalog: { ...base.catalog, tokenAudience: "floe-catalog", credential: "id:secret" },
        }),
    ).toThrow(/catalog\.tokenAudience = "\(set\)" is set, and catalog\.credential too/);
  });
});

describe("CdcWriter on aws", () => {
  test("an ECS Fargate service per source that never runs two writers, a task role scoped to the bucket and catalog", async () => {
    const w = new CdcWriter("wa", {
      target: "aws",
      ...base,
      sources: [{ name: "primary", host: "db.cluster.rds" }],
      catalog: { uri: "https://glue.us-east-1.amazonaws.com/iceberg", warehouse: "123456789012", sigv4Service: "glue", region: "us-east-1" },
      aws: { vpcId: "vpc-1", subnetIds: ["s-1", "s-2"], bucketArn: "arn:aws:s3:::lake", catalogPolicyArn: "arn:aws:iam::1:policy/catalog" },
    });
    await m.settled(w.writers, w.taskRoleArn);
    expect(countsUnder(m, "wa")).toEqual({
      "aws:ecs/cluster:Cluster": 1,
      "aws:cloudwatch/logGroup:LogGroup": 1,
      // the writer's and the interface endpoints'
      "aws:ec2/securityGroup:SecurityGroup": 2,
      // glue, sts, secretsmanager, logs, ecr.api, ecr.dkr + the S3 gateway
      "aws:ec2/vpcEndpoint:VpcEndpoint": 7,
      "aws:iam/role:Role": 2,
      "aws:iam/rolePolicy:RolePolicy": 2,
      "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 2,
      "aws:secretsmanager/secret:Secret": 1,
      "aws:secretsmanager/secretVersion:SecretVersion": 1,
      "aws:ecs/taskDefinition:TaskDefinition": 1,
      "aws:ecs/service:Service": 1,
    });
    const svc = only(m, "aws:ecs/service:Service", "wa").inputs;
    expect(svc).toMatchObject({ desiredCount: 1, deploymentMinimumHealthyPercent: 0, deploymentMaximumPercent: 100, launchType: "FARGATE" });
    expect(svc.networkConfiguration.assignPublicIp).toBe(false);
    const bucketPolicy = JSON.parse(m.named("wa-bucket").inputs.policy);
    expect(bucketPolicy.Statement.flatMap((s: any) => s.Resource)).toEqual(["arn:aws:s3:::lake", "arn:aws:s3:::lake/*"]);
    expect(m.named("wa-catalog").inputs.policyArn).toBe("arn:aws:iam::1:policy/catalog");
    const cfg = parseCdcConfig(JSON.parse(only(m, "aws:secretsmanager/secretVersion:SecretVersion", "wa").inputs.secretString));
    expect(cfg.catalog).toMatchObject({ type: "rest", sigv4: { region: "us-east-1", service: "glue" } });
    const containers = JSON.parse(only(m, "aws:ecs/taskDefinition:TaskDefinition", "wa").inputs.containerDefinitions);
    expect(containers[0].secrets[0].name).toBe("FLOE_CDC_CONFIG");
    // The image's entrypoint is node + the CLI (images/Dockerfile); the override must call it the same way.
    expect(containers[0].command[0]).toContain("exec node /opt/floe/dist/runtime/cli.js cdc run --config /tmp/cdc.json");
    expect(JSON.stringify(containers)).not.toContain("repl-password-xyz");
    expect(m.secretLeaks(["repl-password-xyz"])).toEqual([]);
    const sg = m.named("wa-sg").inputs;
    expect(sg.ingress).toBeUndefined();
  });

  const awsBase = (name: string, aws: Record<string, unknown> = {}) =>
    new CdcWriter(name, {
      target: "aws",
      ...base,
      sources: [{ name: "primary", host: "db.cluster.rds" }],
      catalog: { uri: "https://glue.us-east-1.amazonaws.com/iceberg", warehouse: "123456789012", sigv4Service: "glue", region: "us-east-1" },
      aws: { vpcId: "vpc-1", subnetIds: ["s-1", "s-2"], bucketArn: "arn:aws:s3:::lake", ...aws },
    });
  /** Every egress rule of the writer's group as "port -> destination". */
  const egress = (name: string) =>
    m
      .named(`${name}-sg`)
      .inputs.egress.flatMap((r: any) => [
        ...(r.cidrBlocks ?? []).map((c: string) => `${r.fromPort}-${r.toPort} -> ${c}`),
        ...(r.securityGroups ?? []).map((g: string) => `${r.fromPort}-${r.toPort} -> sg ${g}`),
        ...(r.prefixListIds ?? []).map((p: string) => `${r.fromPort}-${r.toPort} -> prefix list ${p}`),
      ]);

  test("egress on 443 goes only to the VPC endpoints floe creates: interface endpoints for Glue, STS, Secrets Manager, Logs, ECR, and the S3 gateway", async () => {
    const w = awsBase("wep");
    await m.settled(w.writers);
    const endpoints = all(m, "aws:ec2/vpcEndpoint:VpcEndpoint", "wep");
    const iface = endpoints.filter((e) => e.inputs.vpcEndpointType === "Interface");
    expect(iface.map((e) => e.inputs.serviceName).sort()).toEqual(
      ["glue", "sts", "secretsmanager", "logs", "ecr.api", "ecr.dkr"].map((x) => `com.amazonaws.us-east-1.${x}`).sort(),
    );
    const epSg = m.named("wep-endpoints");
    for (const e of iface)
      expect(e.inputs).toMatchObject({
        vpcId: "vpc-1",
        privateDnsEnabled: true,
        subnetIds: ["s-1", "s-2"],
        securityGroupIds: [epSg.state.id ?? expect.any(String)],
      });
    expect(epSg.inputs.ingress).toEqual([{ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["10.0.0.0/16"], description: "HTTPS from the VPC" }]);
    const s3 = endpoints.find((e) => e.inputs.vpcEndpointType === "Gateway")!;
    expect(s3.inputs).toMatchObject({ serviceName: "com.amazonaws.us-east-1.s3", routeTableIds: ["rtb-main"] });
    const epSgId = iface[0].inputs.securityGroupIds[0];
    expect(epSgId).toMatch(/^sg-/);
    expect(egress("wep").sort()).toEqual(["5432-5432 -> 10.0.0.0/16", `443-443 -> sg ${epSgId}`, `443-443 -> prefix list ${s3.state.prefixListId}`].sort());
    expect(s3.state.prefixListId).toMatch(/^pl-/);
  });

  test('"existing" endpoints: 443 to the VPC and the region\'s S3 prefix list, nothing created; "internet" is the explicit opt-out', async () => {
    const w = awsBase("wex", { vpcEndpoints: "existing" });
    await m.settled(w.writers);
    expect(all(m, "aws:ec2/vpcEndpoint:VpcEndpoint", "wex")).toHaveLength(0);
    const pl = m.calls.filter((c) => c.token === "aws:ec2/getPrefixList:getPrefixList").map((c) => c.inputs.name);
    expect(pl).toContain("com.amazonaws.us-east-1.s3");
    expect(egress("wex").sort()).toEqual(["443-443 -> 10.0.0.0/16", "443-443 -> prefix list pl-26s3", "5432-5432 -> 10.0.0.0/16"]);
    const wi = awsBase("win", { vpcEndpoints: "internet" });
    await m.settled(wi.writers);
    expect(egress("win").sort()).toEqual(["443-443 -> 0.0.0.0/0", "5432-5432 -> 10.0.0.0/16"]);
    const wr = awsBase("wrt", { routeTableIds: ["rtb-1", "rtb-2"] });
    await m.settled(wr.writers);
    expect(m.named("wrt-s3").inputs.routeTableIds).toEqual(["rtb-1", "rtb-2"]);
  });

  test.each([
    ["a mode that does not exist", { vpcEndpoints: "nat" }, /aws\.vpcEndpoints = "nat" is not one of "create", "existing", "internet"/],
    [
      "route tables without created endpoints",
      { vpcEndpoints: "existing", routeTableIds: ["rtb-1"] },
      /aws\.routeTableIds = "\(set\)" is only used with aws\.vpcEndpoints "create" \(it is "existing"\)\. Fix: remove aws\.routeTableIds/,
    ],
  ])("validation: %s", (_, over, message) => {
    expect(() => awsBase("wbad", over)).toThrow(message);
  });
});

describe("CdcWriter validation (through the runtime's config contract)", () => {
  test.each([
    ["no sources", { sources: [] }, /CdcWriter "wv": sources = \[\] is empty\. Fix: pass at least one source/],
    [
      "duplicate sources",
      {
        sources: [
          { name: "a", host: "h" },
          { name: "a", host: "h" },
        ],
      },
      /sources = "a" is listed twice/,
    ],
    [
      "bad warehouse",
      { sources: [{ name: "a", host: "h" }], warehouseLocation: "gs://x" },
      /\(CDC config\) = "a" the CDC config of source "a" is invalid:\s+warehouse: must start with file:\/\/\/ or s3:\/\/.*Fix: correct the inputs/,
    ],
    ["bad catalog uri", { sources: [{ name: "a", host: "h" }], catalog: { uri: "not a url" } }, /catalog\.uri: Invalid url/],
    [
      "bad table mode",
      { sources: [{ name: "a", host: "h" }], tables: [{ source: "public.t", mode: "upsert" }] },
      /tables\[public\.t\]\.mode = "upsert" is not one of "mirror", "changelog"/,
    ],
  ] as [string, any, RegExp][])("%s", (_, over, message) => {
    expect(() => new CdcWriter("wv", { target: "kubernetes", ...base, ...over })).toThrow(message);
  });
});

describe("one CDC config renderer, the runtime's defaults", () => {
  const { cdcConfig } = require("../../../../components/cdc/config");
  const { CdcConfigSchema } = require("../../../../runtime/cdc/config");
  const minimal = {
    sources: [{ name: "s", connectionString: "postgresql://u@h/db" }],
    catalog: { type: "sql", uri: "postgresql://u@h/c" },
    warehouse: "file:///w",
    http: { host: "127.0.0.1", port: 0 },
  };

  test("unset parts are left out, so the runtime's zod contract fills them (commit interval, publication, namespace, table mode)", () => {
    const cfg = cdcConfig({ ...minimal, tables: [{ source: "public.t" }] });
    expect(cfg).toEqual({ ...minimal, tables: [{ source: "public.t" }] });
    const parsed = parseCdcConfig(cfg);
    const runtimeDefaults = CdcConfigSchema.parse(minimal);
    expect(parsed.commit.intervalMs).toBe(runtimeDefaults.commit.intervalMs);
    expect(parsed.commit.intervalMs).toBe(500);
    expect(parsed.sources[0].publication).toBe("floe");
    expect(parsed.tables[0].mode).toBe("mirror");
  });

  test("the maintenance policy and format version reach the writer's config, per writer and per table; a bad one is refused at construction", async () => {
    const w = new CdcWriter("wmaint", {
      target: "kubernetes",
      ...base,
      formatVersion: 3,
      maintenance: { keepSnapshots: 10, maxSnapshotAgeMs: 3_600_000 },
      tables: [{ source: "public.orders", formatVersion: 2, maintenance: { deleteRatio: 0.2 } }],
      sources: [{ name: "primary", host: "pg" }],
    });
    await m.settled(w.writers);
    const cfg = parseCdcConfig(JSON.parse(m.named("wmaint-primary-config").inputs.stringData["config.json"]));
    expect(cfg.formatVersion).toBe(3);
    expect(cfg.maintenance).toEqual({ keepSnapshots: 10, maxSnapshotAgeMs: 3_600_000 });
    expect(cfg.tables[0]).toMatchObject({ source: "public.orders", formatVersion: 2, maintenance: { deleteRatio: 0.2 } });
    expect(
      () => new CdcWriter("wbad", { target: "kubernetes", ...base, maintenance: { keepSnapshots: 0 }, sources: [{ name: "primary", host: "pg" }] }),
    ).toThrow(/maintenance\.keepSnapshots/);
  });

  test("a kubernetes writer without commitIntervalMs commits at the runtime's interval; a set one is carried", async () => {
    const w = new CdcWriter("wdef", { target: "kubernetes", ...base, sources: [{ name: "primary", host: "pg" }] });
    const w2 = new CdcWriter("wset", { target: "kubernetes", ...base, commitIntervalMs: 2500, sources: [{ name: "primary", host: "pg" }] });
    await m.settled(w.writers, w2.writers);
    const cfg = (n: string) => parseCdcConfig(JSON.parse(m.named(n).inputs.stringData["config.json"]));
    expect(cfg("wdef-primary-config").commit.intervalMs).toBe(500);
    expect(cfg("wset-primary-config").commit.intervalMs).toBe(2500);
  });
});
