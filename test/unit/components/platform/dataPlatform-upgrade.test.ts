// DataPlatform's upgrade setting on kubernetes and aws: a BlueGreenUpgrade child wired from the
// platform's own outputs (blue URL, the pgBouncer's admin URL and config claim, the VPC, the CDC
// writer's publication and slot), and the settings it refuses, with their messages.
import { DataPlatform, type DataPlatformArgs } from "../../../../components/platform/dataPlatform";
import type { FloeMocks } from "../../../../components/testing";
import { installFloeMocks, underRoot, valueOf } from "../helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks();
});

async function synth(name: string, args: DataPlatformArgs) {
  const p = new DataPlatform(name, args);
  await m.settled(p.connectionString, p.poolerEndpoint, p.upgradeStatePaths, p.upgrade?.greenUrl, p.upgrade?.jobName, p.upgrade?.runTaskCommand);
  return p;
}

describe("DataPlatform upgrade on kubernetes", () => {
  test("a BlueGreenUpgrade child: green CNPG cluster at the new major, the Job on the platform's pgBouncer, the CDC handoff flags", async () => {
    const p = await synth("ku", { target: "kubernetes", pooler: { implementation: "pgbouncer" }, upgrade: { toVersion: 17, budgetMs: 1500 } });
    expect(p.upgrade).toBeDefined();
    const bg = m.resources.find((r) => r.type === "floe:index:BlueGreenUpgrade" && r.name === "ku-upgrade")!;
    expect(bg.parentUrn).toBe(m.resources.find((r) => r.type === "floe:index:DataPlatform" && r.name === "ku")!.urn);
    const green = m.named("ku-upgrade-green", "kubernetes:postgresql.cnpg.io/v1:Cluster");
    expect(green.inputs.spec.imageName).toBe("ghcr.io/cloudnative-pg/postgresql:17");
    expect(green.inputs.metadata.namespace).toBe("floe");
    const job = m.named("ku-upgrade-run", "kubernetes:batch/v1:Job");
    const c = job.inputs.spec.template.spec.containers[0];
    expect(c.args).toEqual(["upgrade", "run", "--budget-ms", "1500", "--cdc-publication", "floe", "--cdc-slot", "floe_primary", "--json"]);
    const volumes = job.inputs.spec.template.spec.volumes;
    const poolerClaim = volumes.find((v: any) => v.name === "pooler").persistentVolumeClaim.claimName;
    expect(poolerClaim).toBe(await valueOf(p.pooler!.configClaim));
    // the orchestrator's env: blue = the platform's cluster (superuser, TLS), the admin console = the platform's pgBouncer
    const env = m.resources.find((r) => r.type === "kubernetes:core/v1:Secret" && r.name === "ku-upgrade-env")!.inputs.stringData;
    // verified against blue's CA (CloudNativePG's ku-postgres-ca), which also issues green's certificate,
    // so the CDC writer's mounted CA verifies green after the handoff
    expect(env.FLOE_UPGRADE_BLUE_URL).toMatch(
      /^postgresql:\/\/postgres:.+@ku-postgres-rw\.floe\.svc\.cluster\.local:5432\/app\?sslmode=verify-full&sslrootcert=%2Fetc%2Ffloe-ca%2Fca\.crt$/,
    );
    expect(green.inputs.spec.certificates).toEqual({ serverCASecret: "ku-postgres-ca" });
    const writer = m.resources.find((r) => r.type === "kubernetes:apps/v1:Deployment" && r.name === "ku-cdc-primary")!.inputs.spec.template.spec;
    expect(writer.volumes).toContainEqual(expect.objectContaining({ name: "ca", secret: expect.objectContaining({ secretName: "ku-postgres-ca" }) }));
    expect(volumes).toContainEqual(expect.objectContaining({ name: "ca", secret: expect.objectContaining({ secretName: "ku-postgres-ca" }) }));
    expect(env.FLOE_UPGRADE_POOLER_ADMIN).toBe(await valueOf(p.pooler!.adminUrl));
    expect(await valueOf(p.upgradeStatePaths)).toEqual(["/state/floe-upgrade-state.json"]);
    // blue's app and replication roles exist on green, with blue's passwords (CNPG managed roles)
    expect(green.inputs.spec.managed.roles).toEqual([
      { name: "app", ensure: "present", login: true, passwordSecret: { name: "ku-upgrade-green-role-0" } },
      { name: "floe_replication", ensure: "present", login: true, replication: true, passwordSecret: { name: "ku-upgrade-green-role-1" } },
    ]);
    const roleSecret = m.named("ku-upgrade-green-role-0", "kubernetes:core/v1:Secret").inputs.stringData;
    expect(roleSecret.password).toBe(await valueOf(p.postgres!.roles!.appPassword));
    expect(m.named("ku-upgrade-green-role-1", "kubernetes:core/v1:Secret").inputs.stringData.password).toBe(
      await valueOf(p.postgres!.roles!.replicationPassword),
    );
    expect(m.secretLeaks()).toEqual([]);
  });

  test("without upgrade: no BlueGreenUpgrade", async () => {
    const p = await synth("kn", { target: "kubernetes", pooler: { implementation: "pgbouncer" } });
    expect(p.upgrade).toBeUndefined();
    expect(m.resources.filter((r) => r.type === "floe:index:BlueGreenUpgrade" && underRoot(m, r, "kn"))).toEqual([]);
    expect(await valueOf(p.upgradeStatePaths)).toEqual([]);
  });
});

describe("DataPlatform upgrade on aws", () => {
  test("a BlueGreenUpgrade child: green Aurora at the new major in the platform's VPC, the task on your pgBouncer", async () => {
    const p = await synth("au", {
      target: "aws",
      upgrade: { toVersion: 17, poolerAdminUrl: "postgresql://pgbouncer:pw@pgb.internal:6432/pgbouncer", efsFileSystemId: "fs-123" },
    });
    expect(p.upgrade).toBeDefined();
    const green = m.named("au-upgrade-green", "aws:rds/cluster:Cluster");
    expect(green.inputs.engineVersion).toBe("17.4");
    expect(green.inputs.vpcSecurityGroupIds).toEqual([await valueOf(p.postgres!.securityGroupId)]);
    const subnets = m.named("au-upgrade-green-subnets", "aws:rds/subnetGroup:SubnetGroup");
    expect(subnets.inputs.subnetIds).toEqual(await valueOf(p.postgres!.subnetIds));
    const task = m.named("au-upgrade-task", "aws:ecs/taskDefinition:TaskDefinition");
    const [container] = JSON.parse(task.inputs.containerDefinitions);
    expect(container.command).toEqual(["upgrade", "run", "--budget-ms", "1000", "--cdc-publication", "floe", "--cdc-slot", "floe_primary", "--json"]);
    expect(task.inputs.volumes[0].efsVolumeConfiguration.fileSystemId).toBe("fs-123");
    expect(await valueOf(p.upgrade!.runTaskCommand)).toMatch(/^aws ecs run-task /);
    const roles = m.ofType("postgresql:index/role:Role").filter((r) => underRoot(m, r, "au-upgrade"));
    expect(roles.map((r) => [r.name, r.inputs.name, r.inputs.roles ?? []])).toEqual([
      ["au-upgrade-green-role-0", "app", []],
      ["au-upgrade-green-role-1", "floe_replication", ["rds_replication"]],
    ]);
    expect(roles[0].inputs.password).toBe(await valueOf(p.postgres!.roles!.appPassword));
    const greenProvider = m.resources.find((r) => r.type === "pulumi:providers:postgresql" && r.name === "au-upgrade-green-postgresql")!;
    expect(greenProvider.inputs).toMatchObject({ username: "floe_admin", sslmode: "require" });
    expect(roles[0].provider).toContain("au-upgrade-green-postgresql");
    expect(m.secretLeaks(["pw@pgb.internal"])).toEqual([]);
  });
});

describe("DataPlatform upgrade validation", () => {
  test.each([
    [{ target: "kubernetes", upgrade: { toVersion: 17 } }, 'pooler.implementation = undefined is not "pgbouncer": the cutover PAUSEs pgBouncer'],
    [
      { target: "kubernetes", pooler: { implementation: "pgbouncer" }, upgrade: { toVersion: 16 } },
      "upgrade.toVersion = 16 is not newer than postgres.version (16)",
    ],
    [
      { target: "kubernetes", pooler: { implementation: "pgbouncer" }, postgres: { shards: 2, kubernetes: { citusImage: "x" } }, upgrade: { toVersion: 17 } },
      "is not supported for a sharded cluster on kubernetes yet",
    ],
    [
      { target: "kubernetes", pooler: { implementation: "pgbouncer" }, upgrade: { toVersion: 17, retireBlue: true } },
      "upgrade.retireBlue = true applies to the local target only",
    ],
    [{ target: "aws", upgrade: { toVersion: 17 } }, "upgrade.poolerAdminUrl = undefined is required on aws: RDS Proxy has no PAUSE"],
    [{ target: "aws", upgrade: { toVersion: 17, poolerAdminUrl: "postgresql://x" } }, "upgrade.efsFileSystemId = undefined is required on aws"],
    [{ target: "local", postgres: { version: 17 }, upgrade: { toVersion: 17 } }, "upgrade.toVersion = 17 is not newer than postgres.version (17)"],
  ])("%j", (args, message) => {
    expect(() => new DataPlatform("bad", args as DataPlatformArgs)).toThrow(message);
  });
});
