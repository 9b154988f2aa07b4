/**
 * DatabaseBranch: a throwaway copy of a database to try a migration on, for each target:
 *   - kubernetes: a CloudNativePG Cluster bootstrapped (recovery) from a VolumeSnapshot or a CNPG
 *     Backup of the parent cluster;
 *   - aws: an Aurora cluster cloned copy-on-write from the parent (restoreToPointInTime with
 *     restoreType "copy-on-write") plus one instance;
 *   - local: a new database on the parent's Postgres (CREATE DATABASE ... TEMPLATE), created and
 *     deleted by floe's branch runtime through a dynamic provider.
 * A branch never shares writes with its parent.
 */
import * as pulumi from "@pulumi/pulumi";
import { dispatch } from "../target";
import type { DatabaseBranchArgs, DatabaseBranchBuildResult } from "./args";
import { buildKubernetesBranch } from "./kubernetes";
import { buildAwsBranch } from "./aws";
import { buildLocalBranch } from "./local";

export * from "./args";

export class DatabaseBranch extends pulumi.ComponentResource {
  /** Host of the branch's read-write endpoint. */
  readonly host: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  readonly database: pulumi.Output<string>;
  /** libpq URL of the branch (secret). Credentials are the parent's (they are copied with the data); local URLs carry them. */
  readonly connectionString: pulumi.Output<string>;

  constructor(name: string, args: DatabaseBranchArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:DatabaseBranch", name, {}, opts);
    const out = dispatch<DatabaseBranchArgs, DatabaseBranchBuildResult>("DatabaseBranch", this, name, args.target, args, {
      kubernetes: buildKubernetesBranch,
      aws: buildAwsBranch,
      local: buildLocalBranch,
    });
    this.host = out.host;
    this.port = out.port;
    this.database = out.database;
    this.connectionString = pulumi.secret(out.connectionString);
    this.registerOutputs({ host: this.host, port: this.port, database: this.database, connectionString: this.connectionString });
  }
}
