import * as k8s from "@pulumi/kubernetes";
import * as aws from "@pulumi/aws";
import { BlueGreenUpgrade, DEFAULT_UPGRADE_IMAGE } from "../../../../components/upgrade/blueGreenUpgrade";
import type { FloeMocks } from "../../../../components/testing";
import { all, countsUnder, installFloeMocks, isSecret, only, underRoot, valueOf } from "../helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks();
});

const BLUE = "postgresql://postgres:blue-secret-pw@pg-rw.floe:5432/app?sslmode=require";
const ADMIN = "postgresql://pgbouncer:admin-secret-pw@pooler.floe:6432/pgbouncer";

describe("BlueGreenUpgrade on kubernetes", () => {
  test("a green CNPG Cluster at the new major and a Job running `floe upgrade run`, all children of the component", async () => {
    const u = new BlueGreenUpgrade("bg", {
      target: "kubernetes",
      toVersion: 17,
      blueUrl: BLUE,
      poolerAdminUrl: ADMIN,
      budgetMs: 800,
      kubernetes: { poolerConfigClaim: "pgbouncer-config" },
    });
    await m.settled(u.greenUrl, u.jobName);
    expect(countsUnder(m, "bg")).toEqual({
      "random:index/randomPassword:RandomPassword": 1,
      "kubernetes:core/v1:Secret": 2,
      "kubernetes:postgresql.cnpg.io/v1:Cluster": 1,
      "kubernetes:core/v1:PersistentVolumeClaim": 1,
      "kubernetes:core/v1:ServiceAccount": 1,
      "kubernetes:batch/v1:Job": 1,
    });
    const component = m.resources.find((r) => r.type === "floe:index:BlueGreenUpgrade" && r.name === "bg")!;
    for (const r of m.resources.filter((x) => x.custom && underRoot(m, x, "bg"))) {
      expect(r.parentUrn).toBe(component.urn);
      expect(r.name.startsWith("bg-")).toBe(true);
    }
    const cluster = only(m, "kubernetes:postgresql.cnpg.io/v1:Cluster", "bg").inputs;
    expect(cluster.metadata).toMatchObject({ name: "bg-green", namespace: "floe" });
    expect(cluster.spec.imageName).toBe("ghcr.io/cloudnative-pg/postgresql:17");
    expect(cluster.spec.instances).toBe(2);
    expect(cluster.spec.postgresql.parameters.wal_level).toBe("logical");
    expect(cluster.spec.bootstrap.initdb.database).toBe("app");

    const job = only(m, "kubernetes:batch/v1:Job", "bg").inputs.spec;
    const c = job.template.spec.containers[0];
    expect(c.image).toBe(DEFAULT_UPGRADE_IMAGE);
    expect(c.args).toEqual(["upgrade", "run", "--budget-ms", "800", "--json"]);
    expect(job.backoffLimit).toBe(3);
    expect(job.template.spec.volumes).toContainEqual({ name: "pooler", persistentVolumeClaim: { claimName: "pgbouncer-config" } });
    const env = m.named("bg-env", "kubernetes:core/v1:Secret").inputs.stringData;
    expect(env.FLOE_UPGRADE_BLUE_URL).toBe(BLUE);
    expect(env.FLOE_UPGRADE_GREEN_URL).toMatch(/^postgresql:\/\/postgres:.+@bg-green-rw\.floe\.svc\.cluster\.local:5432\/app\?sslmode=require$/);
    expect(env.FLOE_UPGRADE_POOLER_INI).toBe("/pooler/pgbouncer.ini");
    expect(env.FLOE_UPGRADE_STATE).toBe("/state/floe-upgrade-state.json");
    // without blue's CA: green has its own, nothing mounted, and the servers' subscriptions use the URLs as they are
    expect(cluster.spec.certificates).toBeUndefined();
    expect(env.FLOE_UPGRADE_BLUE_FROM_GREEN).toBeUndefined();
    // secrets stay secret
    expect(await isSecret(u.greenUrl)).toBe(true);
    expect(m.secretLeaks(["blue-secret-pw", "admin-secret-pw"])).toEqual([]);
    expect(await valueOf(u.greenHost)).toBe("bg-green-rw.floe.svc.cluster.local");
  });

  test("blueCaSecretName: green's certificate from blue's CA, and the Job verifies both servers with it (verify-full); the subscriptions stay require", async () => {
    new BlueGreenUpgrade("bgca", {
      target: "kubernetes",
      toVersion: 17,
      blueUrl: BLUE,
      poolerAdminUrl: ADMIN,
      kubernetes: { poolerConfigClaim: "c", blueCaSecretName: "pg-ca" },
    });
    await m.settled();
    expect(only(m, "kubernetes:postgresql.cnpg.io/v1:Cluster", "bgca").inputs.spec.certificates).toEqual({ serverCASecret: "pg-ca" });
    const pod = only(m, "kubernetes:batch/v1:Job", "bgca").inputs.spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: "ca", secret: { secretName: "pg-ca", items: [{ key: "ca.crt", path: "ca.crt" }] } });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: "ca", mountPath: "/etc/floe-ca", readOnly: true });
    const env = m.named("bgca-env", "kubernetes:core/v1:Secret").inputs.stringData;
    const q = (url: string) => Object.fromEntries(new URL(url).searchParams);
    expect(q(env.FLOE_UPGRADE_BLUE_URL)).toEqual({ sslmode: "verify-full", sslrootcert: "/etc/floe-ca/ca.crt" });
    expect(q(env.FLOE_UPGRADE_GREEN_URL)).toEqual({ sslmode: "verify-full", sslrootcert: "/etc/floe-ca/ca.crt" });
    expect(new URL(env.FLOE_UPGRADE_GREEN_URL).host).toBe("bgca-green-rw.floe.svc.cluster.local:5432");
    // opened by the servers themselves, where the Job's file does not exist
    expect(q(env.FLOE_UPGRADE_BLUE_FROM_GREEN)).toEqual({ sslmode: "require" });
    expect(q(env.FLOE_UPGRADE_GREEN_FROM_BLUE)).toEqual({ sslmode: "require" });
    expect(m.secretLeaks(["blue-secret-pw"])).toEqual([]);
  });

  test("run: false creates green only; the spec escape hatch merges last", async () => {
    new BlueGreenUpgrade("bgonly", {
      target: "kubernetes",
      toVersion: 18,
      run: false,
      blueUrl: BLUE,
      poolerAdminUrl: ADMIN,
      kubernetes: { poolerConfigClaim: "c", instances: 3, spec: { postgresql: { parameters: { work_mem: "64MB" } } } },
    });
    await m.settled();
    expect(all(m, "kubernetes:batch/v1:Job", "bgonly")).toHaveLength(0);
    const spec = only(m, "kubernetes:postgresql.cnpg.io/v1:Cluster", "bgonly").inputs.spec;
    expect(spec.instances).toBe(3);
    expect(spec.postgresql.parameters).toMatchObject({ wal_level: "logical", work_mem: "64MB" });
    expect(spec.imageName).toBe("ghcr.io/cloudnative-pg/postgresql:18-standard-trixie");
  });

  test("an explicit kubernetes provider flows to every child", async () => {
    const provider = new k8s.Provider("bgprov-k8s", {});
    new BlueGreenUpgrade(
      "bgprov",
      { target: "kubernetes", toVersion: 17, blueUrl: BLUE, poolerAdminUrl: ADMIN, kubernetes: { poolerConfigClaim: "c" } },
      { providers: { kubernetes: provider } },
    );
    await m.settled();
    const k8sChildren = m.resources.filter((r) => r.custom && underRoot(m, r, "bgprov") && r.type.startsWith("kubernetes:"));
    expect(k8sChildren.length).toBe(6);
    for (const r of k8sChildren) expect(r.provider).toMatch(/bgprov-k8s/);
  });
});

describe("BlueGreenUpgrade on aws", () => {
  test("a green Aurora cluster at the new major and an ECS task definition running the orchestrator", async () => {
    const u = new BlueGreenUpgrade("bga", {
      target: "aws",
      toVersion: 17,
      blueUrl: BLUE,
      poolerAdminUrl: ADMIN,
      aws: { vpcId: "vpc-1", subnetIds: ["subnet-a", "subnet-b"], securityGroupIds: ["sg-1"], efsFileSystemId: "fs-1" },
    });
    await m.settled(u.greenUrl, u.runTaskCommand, u.taskDefinitionArn);
    const counts = countsUnder(m, "bga");
    expect(counts).toMatchObject({
      "aws:rds/cluster:Cluster": 1,
      "aws:rds/clusterInstance:ClusterInstance": 2,
      "aws:rds/clusterParameterGroup:ClusterParameterGroup": 1,
      "aws:ecs/taskDefinition:TaskDefinition": 1,
      "aws:ecs/cluster:Cluster": 1,
      "aws:secretsmanager/secret:Secret": 1,
    });
    expect(counts["aws:ecs/service:Service"]).toBeUndefined(); // one-shot: a task, not a service
    const cluster = only(m, "aws:rds/cluster:Cluster", "bga").inputs;
    expect(cluster).toMatchObject({
      engine: "aurora-postgresql",
      engineVersion: "17.4",
      storageEncrypted: true,
      databaseName: "app",
      deletionProtection: true,
    });
    const params = only(m, "aws:rds/clusterParameterGroup:ClusterParameterGroup", "bga").inputs;
    expect(params.family).toBe("aurora-postgresql17");
    expect(params.parameters).toContainEqual(expect.objectContaining({ name: "rds.logical_replication", value: "1" }));
    const td = only(m, "aws:ecs/taskDefinition:TaskDefinition", "bga").inputs;
    const [container] = JSON.parse(td.containerDefinitions);
    expect(container.command).toEqual(["upgrade", "run", "--budget-ms", "1000", "--json"]);
    expect(container.secrets.map((s: any) => s.name)).toEqual(
      expect.arrayContaining(["FLOE_UPGRADE_BLUE_URL", "FLOE_UPGRADE_BLUE_FROM_GREEN", "FLOE_UPGRADE_GREEN_FROM_BLUE"]),
    );
    expect(JSON.stringify(container)).not.toContain("blue-secret-pw");
    // the task verifies blue and green against the RDS / Aurora CAs; the servers' subscriptions stay require
    const env = JSON.parse(m.named("bga-env", "aws:secretsmanager/secretVersion:SecretVersion").inputs.secretString);
    const q = (url: string) => Object.fromEntries(new URL(url).searchParams);
    expect(q(env.FLOE_UPGRADE_BLUE_URL)).toEqual({ sslmode: "verify-full", sslrootcert: "aws-rds" });
    expect(q(env.FLOE_UPGRADE_GREEN_URL)).toEqual({ sslmode: "verify-full", sslrootcert: "aws-rds" });
    expect(q(env.FLOE_UPGRADE_BLUE_FROM_GREEN)).toEqual({ sslmode: "require" });
    expect(td.volumes[0].efsVolumeConfiguration).toEqual({ fileSystemId: "fs-1", transitEncryption: "ENABLED" });
    expect(await valueOf(u.runTaskCommand)).toMatch(/^aws ecs run-task --launch-type FARGATE .*subnets=\[subnet-a,subnet-b\],securityGroups=\[sg-1\]/);
    expect(await isSecret(u.greenUrl)).toBe(true);
    expect(m.secretLeaks(["blue-secret-pw", "admin-secret-pw"])).toEqual([]);
  });

  test('aws.sslrootcert "none": the URLs as given, no separate subscription URLs', async () => {
    new BlueGreenUpgrade("bgan", {
      target: "aws",
      toVersion: 17,
      blueUrl: BLUE,
      poolerAdminUrl: ADMIN,
      aws: { vpcId: "v", subnetIds: ["a", "b"], securityGroupIds: ["s"], sslrootcert: "none" },
    });
    await m.settled();
    const env = JSON.parse(m.named("bgan-env", "aws:secretsmanager/secretVersion:SecretVersion").inputs.secretString);
    expect(env.FLOE_UPGRADE_BLUE_URL).toBe(BLUE);
    expect(env.FLOE_UPGRADE_BLUE_FROM_GREEN).toBeUndefined();
  });

  test("an explicit aws provider flows to every aws child", async () => {
    const provider = new aws.Provider("bgaprov-aws", { region: "eu-west-1" });
    new BlueGreenUpgrade(
      "bgaprov",
      { target: "aws", toVersion: 16, blueUrl: BLUE, poolerAdminUrl: ADMIN, aws: { vpcId: "v", subnetIds: ["a", "b"], securityGroupIds: ["s"] } },
      { providers: { aws: provider } },
    );
    await m.settled();
    const children = m.resources.filter((r) => r.custom && underRoot(m, r, "bgaprov") && r.type.startsWith("aws:"));
    expect(children.length).toBeGreaterThan(5);
    for (const r of children) expect(r.provider).toMatch(/bgaprov-aws/);
  });
});

describe("BlueGreenUpgrade validation", () => {
  const base = { blueUrl: BLUE, poolerAdminUrl: ADMIN };
  test.each([
    [
      { ...base, target: "kubernetes", toVersion: 13, kubernetes: { poolerConfigClaim: "c" } },
      'BlueGreenUpgrade "v1": toVersion = 13 is not one of 14, 15, 16, 17, 18',
    ],
    [{ ...base, toVersion: 17, target: "kubernetes" }, 'kubernetes = undefined is required when target is "kubernetes"'],
    // the default target is "local" (one dispatch for every piece)
    [{ ...base, toVersion: 17 }, 'local = undefined is required when target is "local"'],
    [
      { ...base, toVersion: 17, target: "aws", kubernetes: { poolerConfigClaim: "c" }, aws: { vpcId: "v", subnetIds: ["a", "b"], securityGroupIds: ["s"] } },
      'kubernetes = "{…}" is set but target is "aws"',
    ],
    [{ ...base, toVersion: 17, target: "aws" }, 'aws = undefined is required when target is "aws"'],
    [{ ...base, toVersion: 17, target: "local" }, 'local = undefined is required when target is "local". Fix: pass local: { dataDir, poolerDir, passwords }'],
    [{ ...base, toVersion: 17, target: "gcp" }, 'target = "gcp" is not one of "kubernetes", "aws", "local"'],
    [
      { ...base, target: "kubernetes", toVersion: 17, budgetMs: -1, kubernetes: { poolerConfigClaim: "c" } },
      "budgetMs = -1 is not an integer between 0 and 600000",
    ],
    [
      { ...base, toVersion: 18, target: "aws", aws: { vpcId: "v", subnetIds: ["a"], securityGroupIds: ["s"] } },
      "toVersion = 18 has no Aurora engine version known to floe. Fix: set aws.engineVersion",
    ],
  ])("%j", (args, message) => {
    expect(() => new BlueGreenUpgrade("v1", args as any)).toThrow(message);
  });
});
