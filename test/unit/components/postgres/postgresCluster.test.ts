import * as pulumi from "@pulumi/pulumi";
import { PostgresCluster } from "../../../../components/postgres/postgresCluster";
import type { FloeMocks } from "../../../../components/testing";
import { all, countsUnder, installFloeMocks, isSecret, only, valueOf } from "../helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks();
});

async function build(name: string, args: ConstructorParameters<typeof PostgresCluster>[1], opts?: pulumi.ComponentResourceOptions) {
  const pg = new PostgresCluster(name, args, opts);
  await m.settled(pg.host, pg.sources, pg.connectionString, pg.adminPassword, pg.roles?.publication ?? 0);
  return pg;
}

const ROLES = {
  "pulumi:providers:postgresql": 1,
  "random:index/randomPassword:RandomPassword": 2, // app + replication
  "postgresql:index/role:Role": 2,
  "postgresql:index/grant:Grant": 5,
  "postgresql:index/defaultPrivileges:DefaultPrivileges": 1,
  "postgresql:index/publication:Publication": 1,
};

describe("PostgresCluster on kubernetes", () => {
  test("not sharded: operator, superuser secret, one Cluster, roles", async () => {
    const pg = await build("pgk", { target: "kubernetes" });
    expect(countsUnder(m, "pgk")).toEqual({
      "kubernetes:helm.sh/v3:Release": 1,
      "kubernetes:core/v1:Secret": 1,
      "kubernetes:postgresql.cnpg.io/v1:Cluster": 1,
      ...ROLES,
      "random:index/randomPassword:RandomPassword": 3,
    });
    const cluster = only(m, "kubernetes:postgresql.cnpg.io/v1:Cluster", "pgk");
    const spec = cluster.inputs.spec;
    expect(spec.postgresql.parameters.wal_level).toBe("logical");
    // 8 slots for CDC/upgrades + 2 instances + 2 spare; WAL senders above that.
    expect(spec.postgresql.parameters.max_replication_slots).toBe("12");
    expect(Number(spec.postgresql.parameters.max_wal_senders)).toBeGreaterThan(12);
    expect(spec.postgresql.pg_hba).toEqual(["hostssl all all all scram-sha-256"]);
    expect(spec.instances).toBe(2);
    expect(spec.superuserSecret).toEqual({ name: "pgk-superuser" });
    expect(spec.backup).toBeUndefined();
    expect(only(m, "kubernetes:helm.sh/v3:Release", "pgk").inputs.chart).toBe("cloudnative-pg");
    expect(await valueOf(pg.host)).toBe("pgk-rw.floe.svc.cluster.local");
    // the CA CloudNativePG signs the server certificate with: what the CDC writer verifies against
    expect(await valueOf(pg.sources)).toEqual([{ name: "primary", host: "pgk-rw.floe.svc.cluster.local", port: 5432, caSecretName: "pgk-ca" }]);
    expect(pg.engine).toBe("cnpg");
    expect(await isSecret(pg.adminPassword)).toBe(true);
    expect(await isSecret(pg.connectionString)).toBe(true);
  });

  test("the postgresql provider is built from the cluster outputs and manages the roles", async () => {
    await build("pgprov", { target: "kubernetes", kubernetes: { installOperator: false } });
    const provider = only(m, "pulumi:providers:postgresql", "pgprov");
    expect(provider.inputs.host).toBe("pgprov-rw.floe.svc.cluster.local");
    expect(provider.inputs.username).toBe("postgres");
    expect(provider.inputs.sslmode).toBe("require");
    for (const r of [...all(m, "postgresql:index/role:Role", "pgprov"), ...all(m, "postgresql:index/publication:Publication", "pgprov")]) {
      expect(r.provider).toMatch(new RegExp(`^${provider.urn.replace(/[$]/g, "\\$")}::`));
    }
    const repl = m.named("pgprov-roles-replication");
    expect(repl.inputs).toMatchObject({ name: "floe_replication", login: true, replication: true });
    expect(repl.inputs.superuser).toBeUndefined();
    const grants = all(m, "postgresql:index/grant:Grant", "pgprov").filter((g) => g.inputs.role === "floe_replication");
    expect(grants.flatMap((g) => g.inputs.privileges).sort()).toEqual(["CONNECT", "SELECT", "USAGE"]);
    expect(m.named("pgprov-roles-replication-defaults").inputs).toMatchObject({
      role: "floe_replication",
      owner: "app",
      objectType: "table",
      privileges: ["SELECT"],
    });
    expect(m.named("pgprov-roles-publication").inputs).toMatchObject({ name: "floe", allTables: true, database: "app" });
  });

  test("bring-your-own operator: no Helm release; backups go to the object store", async () => {
    await build("pgbyo", {
      target: "kubernetes",
      kubernetes: {
        installOperator: false,
        backup: { destinationPath: "s3://lake/backups", endpointUrl: "http://minio:9000", credentialsSecretName: "creds" },
      },
    });
    const counts = countsUnder(m, "pgbyo");
    expect(counts["kubernetes:helm.sh/v3:Release"]).toBeUndefined();
    expect(counts["kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"]).toBe(1);
    const spec = only(m, "kubernetes:postgresql.cnpg.io/v1:Cluster", "pgbyo").inputs.spec;
    expect(spec.backup.barmanObjectStore).toMatchObject({
      destinationPath: "s3://lake/backups",
      endpointURL: "http://minio:9000",
      s3Credentials: { accessKeyId: { name: "creds", key: "ACCESS_KEY_ID" }, secretAccessKey: { name: "creds", key: "ACCESS_SECRET_KEY" } },
    });
  });

  test("sharded: Citus coordinator + one Cluster per shard, a registration Job, one CDC source per shard", async () => {
    const pg = await build("pgs", { target: "kubernetes", shards: 3, kubernetes: { citusImage: "example/cnpg-citus:16" } });
    const counts = countsUnder(m, "pgs");
    expect(counts["kubernetes:postgresql.cnpg.io/v1:Cluster"]).toBe(4);
    expect(counts["kubernetes:batch/v1:Job"]).toBe(1);
    for (const c of all(m, "kubernetes:postgresql.cnpg.io/v1:Cluster", "pgs")) {
      expect(c.inputs.spec.postgresql.shared_preload_libraries).toEqual(["citus"]);
      expect(c.inputs.spec.imageName).toBe("example/cnpg-citus:16");
      expect(c.inputs.spec.postgresql.parameters.wal_level).toBe("logical");
    }
    const job = only(m, "kubernetes:batch/v1:Job", "pgs");
    const script: string = job.inputs.spec.template.spec.containers[0].command[2];
    for (let i = 0; i < 3; i++) expect(script).toContain(`citus_add_node('pgs-shard-${i}-rw.floe.svc.cluster.local', 5432)`);
    expect(pg.engine).toBe("cnpg-citus");
    expect((await valueOf(pg.sources))!.map((s) => [s.name, s.caSecretName])).toEqual([
      ["shard-0", "pgs-shard-0-ca"],
      ["shard-1", "pgs-shard-1-ca"],
      ["shard-2", "pgs-shard-2-ca"],
    ]);
  });

  test("Postgres 18: CloudNativePG's standard image for 18; the older majors keep their system images", async () => {
    await build("pg18", { target: "kubernetes", version: 18, kubernetes: { installOperator: false } });
    expect(only(m, "kubernetes:postgresql.cnpg.io/v1:Cluster", "pg18").inputs.spec.imageName).toBe("ghcr.io/cloudnative-pg/postgresql:18-standard-trixie");
    await build("pg17", { target: "kubernetes", version: 17, kubernetes: { installOperator: false } });
    expect(only(m, "kubernetes:postgresql.cnpg.io/v1:Cluster", "pg17").inputs.spec.imageName).toBe("ghcr.io/cloudnative-pg/postgresql:17");
    // with backups, an image carrying barman-cloud (the user's) is accepted
    await build("pg18b", {
      target: "kubernetes",
      version: 18,
      kubernetes: {
        installOperator: false,
        imageName: "registry.example/pg:18-barman",
        backup: { destinationPath: "s3://lake/backups", credentialsSecretName: "creds" },
      },
    });
    const spec = only(m, "kubernetes:postgresql.cnpg.io/v1:Cluster", "pg18b").inputs.spec;
    expect(spec.imageName).toBe("registry.example/pg:18-barman");
    expect(spec.backup.barmanObjectStore.destinationPath).toBe("s3://lake/backups");
  });

  test("escape hatch: spec overrides are merged last", async () => {
    await build("pgesc", {
      target: "kubernetes",
      kubernetes: { installOperator: false, spec: { instances: 5, postgresql: { parameters: { work_mem: "64MB" } } } },
    });
    const spec = only(m, "kubernetes:postgresql.cnpg.io/v1:Cluster", "pgesc").inputs.spec;
    expect(spec.instances).toBe(5);
    expect(spec.postgresql.parameters).toMatchObject({ work_mem: "64MB", wal_level: "logical" });
  });
});

describe("PostgresCluster on aws", () => {
  test("not sharded, network created: Aurora with logical replication, encryption and Secrets Manager", async () => {
    const pg = await build("pga", { target: "aws" });
    expect(countsUnder(m, "pga")).toEqual({
      "aws:ec2/vpc:Vpc": 1,
      "aws:ec2/subnet:Subnet": 2,
      "aws:ec2/securityGroup:SecurityGroup": 1,
      "aws:rds/subnetGroup:SubnetGroup": 1,
      "aws:rds/clusterParameterGroup:ClusterParameterGroup": 1,
      "aws:secretsmanager/secret:Secret": 1,
      "aws:secretsmanager/secretVersion:SecretVersion": 1,
      "aws:rds/cluster:Cluster": 1,
      "aws:rds/clusterInstance:ClusterInstance": 2,
      ...ROLES,
      "random:index/randomPassword:RandomPassword": 3,
    });
    const params = only(m, "aws:rds/clusterParameterGroup:ClusterParameterGroup", "pga").inputs;
    expect(params.family).toBe("aurora-postgresql16");
    const p = Object.fromEntries(params.parameters.map((x: any) => [x.name, x.value]));
    expect(p["rds.logical_replication"]).toBe("1");
    expect(p["rds.force_ssl"]).toBe("1");
    expect(Number(p["max_replication_slots"])).toBeGreaterThanOrEqual(8);
    const cluster = only(m, "aws:rds/cluster:Cluster", "pga").inputs;
    expect(cluster).toMatchObject({ engine: "aurora-postgresql", storageEncrypted: true, deletionProtection: true, skipFinalSnapshot: false });
    for (const i of all(m, "aws:rds/clusterInstance:ClusterInstance", "pga")) expect(i.inputs.publiclyAccessible).toBe(false);
    const sg = only(m, "aws:ec2/securityGroup:SecurityGroup", "pga").inputs;
    expect(sg.ingress[0].cidrBlocks).toEqual(["10.42.0.0/16"]);
    expect(JSON.stringify(sg)).not.toContain("0.0.0.0/0");
    expect(m.named("pga-roles-replication").inputs.roles).toEqual(["rds_replication"]);
    expect(await valueOf(pg.host)).toMatch(/^pga-cluster\.cluster-.*\.rds\.amazonaws\.com$/);
    expect(await valueOf(pg.adminSecretArn)).toMatch(/^arn:aws:secretsmanager:/);
  });

  test("bring-your-own VPC: no network created, the VPC's CIDR is allowed", async () => {
    await build("pgav", { target: "aws", aws: { vpcId: "vpc-123", subnetIds: ["subnet-a", "subnet-b"] } });
    const counts = countsUnder(m, "pgav");
    expect(counts["aws:ec2/vpc:Vpc"]).toBeUndefined();
    expect(counts["aws:ec2/subnet:Subnet"]).toBeUndefined();
    expect(only(m, "aws:rds/subnetGroup:SubnetGroup", "pgav").inputs.subnetIds).toEqual(["subnet-a", "subnet-b"]);
    expect(only(m, "aws:ec2/securityGroup:SecurityGroup", "pgav").inputs.ingress[0].cidrBlocks).toEqual(["10.0.0.0/16"]);
  });

  test("Postgres 18: the engine version the user passes, the aurora-postgresql18 parameter family", async () => {
    await build("pga18", { target: "aws", version: 18, aws: { engineVersion: "18.1" } });
    expect(only(m, "aws:rds/cluster:Cluster", "pga18").inputs.engineVersion).toBe("18.1");
    for (const pg of [...all(m, "aws:rds/clusterParameterGroup:ClusterParameterGroup", "pga18"), ...all(m, "aws:rds/parameterGroup:ParameterGroup", "pga18")]) {
      expect(pg.inputs.family).toBe("aurora-postgresql18");
    }
    expect(all(m, "aws:rds/clusterParameterGroup:ClusterParameterGroup", "pga18").length).toBe(1);
  });

  test("sharded: Aurora Limitless cluster + ShardGroup, no instances", async () => {
    const pg = await build("pgl", { target: "aws", shards: 4, aws: { vpcId: "vpc-1", subnetIds: ["s-1", "s-2"] } });
    const counts = countsUnder(m, "pgl");
    expect(counts["aws:rds/shardGroup:ShardGroup"]).toBe(1);
    expect(counts["aws:rds/clusterInstance:ClusterInstance"]).toBeUndefined();
    expect(only(m, "aws:rds/cluster:Cluster", "pgl").inputs).toMatchObject({
      clusterScalabilityType: "limitless",
      engineVersion: "16.6-limitless",
      storageEncrypted: true,
    });
    expect(only(m, "aws:rds/shardGroup:ShardGroup", "pgl").inputs).toMatchObject({ maxAcu: 64, publiclyAccessible: false });
    expect(pg.engine).toBe("aurora-limitless");
    expect(await valueOf(pg.host)).toContain("limitless");
  });

  test("an explicit provider reaches every child, including the invokes' resources", async () => {
    const aws = await import("@pulumi/aws");
    const prov = new aws.Provider("eu", { region: "eu-west-1" });
    await build("pgp", { target: "aws" }, { providers: [prov] });
    const provUrn = (await valueOf(prov.urn))!;
    const awsChildren = m.resources.filter((r) => r.custom && r.type.startsWith("aws:") && r.name.startsWith("pgp-"));
    expect(awsChildren.length).toBeGreaterThan(8);
    for (const r of awsChildren) expect(`${r.type} ${r.provider}`).toMatch(new RegExp(`${r.type.replace(/[/$.]/g, ".")} ${provUrn.replace(/[$]/g, "\\$")}::`));
    const azCalls = m.calls.filter((c) => c.token === "aws:index/getAvailabilityZones:getAvailabilityZones");
    expect(azCalls.length).toBeGreaterThan(0);
    for (const c of azCalls.slice(-1)) expect(c.provider).toMatch(new RegExp(`^${provUrn.replace(/[$]/g, "\\$")}::`));
  });
});

describe("PostgresCluster validation", () => {
  const cases: [string, ConstructorParameters<typeof PostgresCluster>[1], RegExp][] = [
    ["bad target", { target: "gcp" }, /PostgresCluster "v1": target = "gcp" is not one of "kubernetes", "aws", "local"\. Fix: set target to one of/],
    ["local (the default) shards range", { shards: 17 }, /shards = 17 is not an integer between 1 and 16/],
    [
      "citus image",
      { target: "kubernetes", shards: 2 },
      /kubernetes\.citusImage = undefined is required when shards = 2\. Fix: pass a CloudNativePG-compatible Postgres image/,
    ],
    ["version 19", { target: "kubernetes", version: 19 }, /version = 19 is not an integer between 14 and 18/],
    ["aws version 19", { target: "aws", version: 19 }, /version = 19 is not an integer between 14 and 18/],
    [
      "aws 18 without an engine version",
      { target: "aws", version: 18 },
      /aws\.engineVersion = undefined is required with version 18: floe pins no Aurora PostgreSQL 18 engine version\. Fix: pass the one your region offers/,
    ],
    [
      "18 with backups on CNPG's image",
      { target: "kubernetes", version: 18, kubernetes: { backup: { destinationPath: "s3://b/x", credentialsSecretName: "c" } } },
      /kubernetes\.imageName = undefined is required with version 18 and kubernetes\.backup: CloudNativePG's images for 18 \(ghcr\.io\/cloudnative-pg\/postgresql:18-standard-trixie\) have no barman-cloud/,
    ],
    ["shards range", { target: "kubernetes", shards: 0 }, /shards = 0 is not an integer between 1 and 64/],
    ["byo subnets", { target: "aws", aws: { vpcId: "vpc-1" } }, /aws\.subnetIds = undefined must list at least two subnets when aws\.vpcId is set/],
    [
      "open cidr",
      { target: "aws", aws: { allowedCidrBlocks: ["0.0.0.0/0"] } },
      /aws\.allowedCidrBlocks = "0\.0\.0\.0\/0" would open Postgres to the internet\. Fix: list only your VPC/,
    ],
    [
      "limitless version",
      { target: "aws", shards: 2, version: 15 },
      /version = 15 is not supported by Aurora Limitless .*Fix: set version to 16 or shards to 1/,
    ],
    ["wrong target block", { target: "kubernetes", aws: {} }, /aws = "\{…\}" is set but target is "kubernetes"/],
    ["database name", { target: "aws", database: "My-DB" }, /database = "My-DB" is not a plain lower-case SQL identifier\. Fix: use lower-case letters/],
  ];
  test.each(cases)("%s", (_, args, message) => {
    expect(() => new PostgresCluster("v1", args)).toThrow(message);
  });
});

test("bring-your-own postgresql provider: roles use it and no provider is created", async () => {
  const postgresql = await import("@pulumi/postgresql");
  const mine = new postgresql.Provider("my-pg", { host: "bastion.local", port: 15432, username: "admin", password: "x" });
  await build("pgown", { target: "kubernetes", kubernetes: { installOperator: false } }, { providers: { postgresql: mine } });
  expect(all(m, "pulumi:providers:postgresql", "pgown")).toHaveLength(0);
  const ref = `${await valueOf(mine.urn)}::`;
  const managed = all(m, "postgresql:index/role:Role", "pgown");
  expect(managed).toHaveLength(2);
  for (const r of managed) expect(r.provider?.startsWith(ref)).toBe(true);
});
