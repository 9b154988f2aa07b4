import * as pulumi from "@pulumi/pulumi";

/** A CDC source: one logical slot is read per source (one per shard). */
export interface PostgresSource {
  name: string;
  host: string;
  port: number;
}

/** What every target's Postgres builder returns. */
export interface PostgresBuildResult {
  engine: string;
  host: pulumi.Output<string>;
  port: pulumi.Output<number>;
  database: pulumi.Output<string>;
  adminUsername: pulumi.Output<string>;
  adminPassword: pulumi.Output<string>;
  /** Host used to manage roles (may differ from `host` when Pulumi runs outside the network). */
  adminHost: pulumi.Input<string>;
  sources: pulumi.Output<PostgresSource[]>;
  /** CNPG Cluster name of the primary / coordinator (kubernetes). */
  clusterName: pulumi.Output<string | undefined>;
  namespace: pulumi.Output<string | undefined>;
  adminSecretName: pulumi.Output<string | undefined>;
  adminSecretArn: pulumi.Output<string | undefined>;
  clusterArn: pulumi.Output<string | undefined>;
  clusterIdentifier: pulumi.Output<string | undefined>;
  vpcId: pulumi.Output<string | undefined>;
  subnetIds: pulumi.Output<string[] | undefined>;
  securityGroupId: pulumi.Output<string | undefined>;
  rdsReplication: boolean;
}
