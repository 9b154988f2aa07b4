/** DatabaseBranch and SchemaMigration with Pulumi mocks. */
import * as pulumi from "@pulumi/pulumi";
import { join } from "node:path";
import { installFloeMocks, isSecret, valueOf, all, only } from "../helpers";
import type { FloeMocks } from "../../../../components/testing";
import { DatabaseBranch } from "../../../../components/branch/databaseBranch";
import { lintMigration, SchemaMigration } from "../../../../components/schema/schema-migration";
import { defaultPolicy } from "../../../../runtime/schema/lint";
import { readFileSync } from "node:fs";

const FIX = join(__dirname, "../../../fixtures/migrations");
let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks();
});
beforeEach(() => m.reset());

describe("DatabaseBranch", () => {
  it("kubernetes: one CNPG Cluster recovered from the parent's VolumeSnapshot, parented to the component", async () => {
    const b = new DatabaseBranch("pr-42", { target: "kubernetes", kubernetes: { namespace: "data", volumeSnapshotName: "app-snap-1" } });
    await m.settled(b.connectionString);
    expect(m.typeCounts()).toEqual({ "kubernetes:postgresql.cnpg.io/v1:Cluster": 1 });
    const c = only(m, "kubernetes:postgresql.cnpg.io/v1:Cluster", "pr-42");
    expect(c.name).toBe("pr-42-cluster");
    expect(c.parentUrn).toBe(m.named("pr-42", "floe:index:DatabaseBranch").urn);
    expect(c.inputs.spec.bootstrap.recovery.volumeSnapshots.storage).toEqual({
      name: "app-snap-1",
      kind: "VolumeSnapshot",
      apiGroup: "snapshot.storage.k8s.io",
    });
    expect(c.inputs.metadata.namespace).toBe("data");
    expect(await valueOf(b.host)).toBe("pr-42-rw.data.svc");
    expect(await isSecret(b.connectionString)).toBe(true);
  });

  it("kubernetes: a CNPG Backup works too, the spec escape hatch merges last, and one source is required", async () => {
    const b = new DatabaseBranch("br", { target: "kubernetes", kubernetes: { backupName: "nightly", spec: { instances: 2 } } });
    await m.settled(b.host);
    const c = only(m, "kubernetes:postgresql.cnpg.io/v1:Cluster");
    expect(c.inputs.spec.bootstrap.recovery.backup).toEqual({ name: "nightly" });
    expect(c.inputs.spec.instances).toBe(2);
    expect(() => new DatabaseBranch("nosrc", { target: "kubernetes" })).toThrow(
      /DatabaseBranch "nosrc": kubernetes.volumeSnapshotName = undefined and kubernetes.backupName are both unset\. Fix: name a VolumeSnapshot/,
    );
  });

  it("aws: an encrypted Aurora copy-on-write clone plus one instance", async () => {
    const b = new DatabaseBranch("pr-7", { target: "aws", aws: { sourceClusterIdentifier: "prod-aurora", dbSubnetGroupName: "db-subnets" } });
    await m.settled(b.connectionString);
    expect(m.typeCounts()).toEqual({ "aws:rds/cluster:Cluster": 1, "aws:rds/clusterInstance:ClusterInstance": 1 });
    const c = only(m, "aws:rds/cluster:Cluster", "pr-7");
    expect(c.inputs.restoreToPointInTime).toEqual({ sourceClusterIdentifier: "prod-aurora", restoreType: "copy-on-write", useLatestRestorableTime: true });
    expect(c.inputs.storageEncrypted).toBe(true);
    expect(c.inputs.engine).toBe("aurora-postgresql");
    expect(c.inputs.serverlessv2ScalingConfiguration).toEqual({ minCapacity: 0.5, maxCapacity: 4 });
    expect(only(m, "aws:rds/clusterInstance:ClusterInstance").inputs.publiclyAccessible).toBe(false);
    expect(all(m, "aws:rds/clusterInstance:ClusterInstance", "pr-7")).toHaveLength(1);
    expect(() => new DatabaseBranch("x", { target: "aws" })).toThrow(/aws = undefined is required when target is "aws"/);
  });

  it("local: a dynamic resource calling the branch runtime, the parent URL kept secret", async () => {
    const b = new DatabaseBranch("pr-9", { local: { parentUrl: "postgres://u:s3cretpass@127.0.0.1:5432/app" } });
    await m.settled(b.host);
    const d = only(m, "pulumi-nodejs:dynamic/floe:LocalDatabaseBranch", "pr-9");
    expect(d.name).toBe("pr-9-database");
    expect(d.inputs.branchName).toBe("pr_9");
    expect(d.inputs.runtimeDir).toMatch(/dist[\\/]runtime$/);
    expect(m.secretLeaks(["s3cretpass"])).toEqual([]);
    expect(() => new DatabaseBranch("y", { target: "local" })).toThrow(/local = undefined is required/);
    expect(() => new DatabaseBranch("z", { target: "gcp" })).toThrow(/target = "gcp" is not one of/);
  });
});

describe("SchemaMigration", () => {
  it("passes a safe migration and reports opt-outs, with a checksum of the files", async () => {
    const s = new SchemaMigration("m1", { files: [join(FIX, "002_safe_add_nullable_column.sql"), join(FIX, "100_optout_drop_column.sql")] });
    const report = await valueOf(s.report);
    expect(report).toMatchObject({ files: 2, errors: 0, warnings: 0 });
    expect(report!.allowed).toEqual([expect.stringMatching(/100_optout_drop_column\.sql:4 drop-column: unused since v42/)]);
    expect(await valueOf(s.checksum)).toMatch(/^[0-9a-f]{64}$/);
  });

  // The refusal is tested on the function the component runs (a rejected component output would
  // also surface as an unhandled rejection inside jest, which is how it fails a real `pulumi up`).
  const lintOf = (name: string, file: string, policy = defaultPolicy(), strict = false) =>
    lintMigration(name, [join(FIX, file)], [readFileSync(join(FIX, file), "utf8")], policy, strict);

  it("refuses, at preview/up, a migration the policy rejects, naming the rule and line", async () => {
    await expect(lintOf("m2", "032_drop_column.sql")).rejects.toThrow(
      /SchemaMigration "m2": the schema policy refuses this migration:\n.*032_drop_column\.sql:3:1: error \[drop-column\]/,
    );
  });

  it("honours the policy and failOnWarnings", async () => {
    const relaxed = new SchemaMigration("m3", { files: [join(FIX, "032_drop_column.sql")], policy: { "drop-column": "warn" } });
    expect(await valueOf(relaxed.report)).toMatchObject({ errors: 0, warnings: 1 });
    const warnPolicy = { ...defaultPolicy(), "drop-column": "warn" as const };
    await expect(lintOf("m4", "032_drop_column.sql", warnPolicy, true)).rejects.toThrow(/refuses/);
    await expect(lintOf("m4", "032_drop_column.sql", warnPolicy, false)).resolves.toMatchObject({ warnings: 1 });
    await expect(lintOf("m5", "110_parse_error_typo.sql")).rejects.toThrow(/error \[parse\] syntax error/);
  });

  it("validates its args at construction", () => {
    expect(() => new SchemaMigration("e1", { files: [] })).toThrow(/SchemaMigration "e1": files = \[\] is empty/);
    expect(() => new SchemaMigration("e2", { files: [join(FIX, "nope.sql")] })).toThrow(/files = ".*nope\.sql" cannot be read/);
    expect(() => new SchemaMigration("e3", { files: [FIX], policy: { "no-such-rule": "off" } })).toThrow(/policy = .* is not a valid policy .*unknown rule/);
  });

  it("is a floe:index component", async () => {
    const s = new SchemaMigration("m6", { files: [join(FIX, "001_safe_create_table.sql")] });
    await m.settled(s.report);
    expect(m.named("m6").type).toBe("floe:index:SchemaMigration");
    expect(pulumi.Output.isInstance(s.checksum)).toBe(true);
  });
});
