import * as pulumi from "@pulumi/pulumi";
import { dispatch } from "../target";
import { DatabaseRoles } from "./databaseRoles";
import { buildKubernetesPostgres } from "./kubernetes";
import { buildAwsPostgres } from "./aws";
import { buildLocalPostgres } from "./local";
import type { LocalPostgresServer } from "./localServer";
import type { PostgresBuildResult, PostgresClusterArgs, PostgresRoles, PostgresSource } from "./args";
import { pgUrl } from "../util";

export * from "./args";

/**
 * A Postgres cluster ready for logical replication (wal_level=logical, slots and WAL senders sized
 * for the CDC writer), optionally sharded, with the application and replication roles and the
 * publication the CDC writer reads.
 *
 * - kubernetes: CloudNativePG (operator via Helm, optional) + `Cluster` resources; sharded: Citus on
 *   CNPG (a coordinator cluster and one cluster per shard, registered by a Job).
 * - aws: Aurora PostgreSQL with `rds.logical_replication=1`; sharded: Aurora Limitless (ShardGroup).
 */
export class PostgresCluster extends pulumi.ComponentResource {
  /** "cnpg", "cnpg-citus", "aurora" or "aurora-limitless". */
  readonly engine: string;
  /** Primary / coordinator endpoint (direct, not through the pooler). */
  readonly host: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  readonly database: pulumi.Output<string>;
  readonly adminUsername: pulumi.Output<string>;
  /** Secret. */
  readonly adminPassword: pulumi.Output<string>;
  /** One CDC source per shard (the primary when not sharded). */
  readonly sources: pulumi.Output<PostgresSource[]>;
  /** Roles inside Postgres (a DatabaseRoles child, or the local servers' own); undefined when `roles.manage` is false. */
  readonly roles?: PostgresRoles;
  /** local: the servers, one per shard (empty on kubernetes and aws). */
  readonly localServers: LocalPostgresServer[];
  /** Application connection string (direct), secret; undefined when roles are not managed. */
  readonly connectionString: pulumi.Output<string | undefined>;
  /** kubernetes: CNPG Cluster of the primary / coordinator. */
  readonly clusterName: pulumi.Output<string | undefined>;
  /** kubernetes: namespace of the clusters. */
  readonly namespace: pulumi.Output<string | undefined>;
  /** kubernetes: Secret with the superuser credentials. */
  readonly adminSecretName: pulumi.Output<string | undefined>;
  /** aws: Secrets Manager secret with the admin credentials. */
  readonly adminSecretArn: pulumi.Output<string | undefined>;
  /** aws: cluster ARN / identifier. */
  readonly clusterArn: pulumi.Output<string | undefined>;
  readonly clusterIdentifier: pulumi.Output<string | undefined>;
  /** aws: network the cluster lives in (created or passed in). */
  readonly vpcId: pulumi.Output<string | undefined>;
  readonly subnetIds: pulumi.Output<string[] | undefined>;
  readonly securityGroupId: pulumi.Output<string | undefined>;

  constructor(name: string, args: PostgresClusterArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:PostgresCluster", name, {}, opts);
    const r: PostgresBuildResult = dispatch("PostgresCluster", this, name, args.target, args, {
      kubernetes: buildKubernetesPostgres,
      aws: buildAwsPostgres,
      local: buildLocalPostgres,
    });
    this.engine = r.engine;
    this.host = r.host;
    this.port = r.port;
    this.database = r.database;
    this.adminUsername = r.adminUsername;
    this.adminPassword = pulumi.secret(r.adminPassword);
    this.sources = r.sources;
    this.clusterName = r.clusterName;
    this.namespace = r.namespace;
    this.adminSecretName = r.adminSecretName;
    this.adminSecretArn = r.adminSecretArn;
    this.clusterArn = r.clusterArn;
    this.clusterIdentifier = r.clusterIdentifier;
    this.vpcId = r.vpcId;
    this.subnetIds = r.subnetIds;
    this.securityGroupId = r.securityGroupId;

    this.localServers = r.localServers ?? [];
    const ro = args.roles ?? {};
    if (r.roles) {
      this.roles = r.roles;
      this.connectionString = pgUrl(r.roles.appUsername, r.roles.appPassword, r.host, r.port, r.database, "disable");
    } else if (ro.manage ?? true) {
      const roles = new DatabaseRoles(
        `${name}-roles`,
        {
          host: ro.adminHost ?? r.adminHost,
          port: ro.adminPort ?? r.port,
          database: r.database,
          adminUsername: r.adminUsername,
          adminPassword: this.adminPassword,
          appUsername: ro.appUsername,
          replicationUsername: ro.replicationUsername,
          publication: ro.publication,
          publicationTables: ro.publicationTables,
          extraDatabases: ro.extraDatabases,
          rdsReplication: r.rdsReplication,
        },
        { parent: this },
      );
      this.roles = roles;
      this.connectionString = pgUrl(roles.appUsername, roles.appPassword, r.host, r.port, r.database);
    } else {
      this.connectionString = pulumi.output(undefined);
    }
    this.registerOutputs({
      engine: this.engine,
      host: this.host,
      port: this.port,
      database: this.database,
      adminUsername: this.adminUsername,
      adminPassword: this.adminPassword,
      sources: this.sources,
      connectionString: this.connectionString,
      clusterName: this.clusterName,
      namespace: this.namespace,
      adminSecretName: this.adminSecretName,
      adminSecretArn: this.adminSecretArn,
      clusterArn: this.clusterArn,
      vpcId: this.vpcId,
      subnetIds: this.subnetIds,
      securityGroupId: this.securityGroupId,
    });
  }
}
