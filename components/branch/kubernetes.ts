/** DatabaseBranch on kubernetes: a CloudNativePG Cluster bootstrapped (recovery) from a VolumeSnapshot or a CNPG Backup of the parent. */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { BuildContext } from "../target";
import { deepMerge, labels } from "../util";
import type { DatabaseBranchArgs, DatabaseBranchBuildResult } from "./args";

export function buildKubernetesBranch(ctx: BuildContext<DatabaseBranchArgs>): DatabaseBranchBuildResult {
  const { name, args, v, childOpts } = ctx;
  const ka = args.kubernetes ?? {};
  if (args.aws || args.local)
    v.fail(args.aws ? "aws" : "local", "{…}", 'is set but target is "kubernetes"', 'move these settings under "kubernetes" or change target');
  const ns = v.dnsLabel("kubernetes.namespace", ka.namespace ?? "floe");
  const clusterName = v.dnsLabel("branchName", args.branchName ?? name, 50);
  const database = v.sqlIdentifier("kubernetes.database", ka.database ?? "app");
  if (!ka.volumeSnapshotName && !ka.backupName) {
    v.fail(
      "kubernetes.volumeSnapshotName",
      undefined,
      "and kubernetes.backupName are both unset",
      "name a VolumeSnapshot of the parent's PGDATA volume (volumeSnapshotName) or a CNPG Backup of the parent (backupName)",
    );
  }
  const recovery: Record<string, unknown> = { database };
  if (ka.volumeSnapshotName)
    recovery.volumeSnapshots = { storage: { name: ka.volumeSnapshotName, kind: "VolumeSnapshot", apiGroup: "snapshot.storage.k8s.io" } };
  else recovery.backup = { name: ka.backupName };
  const spec = deepMerge(
    {
      instances: 1,
      imageName: ka.imageName ?? "ghcr.io/cloudnative-pg/postgresql:16",
      storage: { size: ka.storageSize ?? "10Gi" },
      bootstrap: { recovery },
      postgresql: { parameters: { wal_level: "logical" } },
    } as Record<string, unknown>,
    ka.spec,
  );
  const cluster = new k8s.apiextensions.CustomResource(
    `${name}-cluster`,
    {
      apiVersion: "postgresql.cnpg.io/v1",
      kind: "Cluster",
      metadata: { name: clusterName, namespace: ns, labels: { ...labels("database-branch", name), "floe.dev/branch": "true" } },
      spec,
    },
    childOpts,
  );
  const host = pulumi.all([cluster.metadata.name, cluster.metadata.namespace]).apply(([n, s]) => `${n}-rw.${s}.svc`);
  return {
    host,
    port: pulumi.output(5432),
    database: pulumi.output(database),
    connectionString: pulumi.interpolate`postgresql://${host}:5432/${database}?sslmode=require`,
  };
}
