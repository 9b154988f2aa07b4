// Importing single floe components into a stack you already have: your VPC and subnets, your
// bucket, your EKS cluster's Kubernetes provider, and a CNPG operator that is already installed.
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import { CdcWriter, IcebergCatalog, ObjectStorage, Pooler, PostgresCluster } from "../../components";

const config = new pulumi.Config();
const vpcId = config.require("vpcId");
const subnetIds = config.requireObject<string[]>("privateSubnetIds");

// Your existing providers; pass them explicitly, floe hands them to every child.
const awsProvider = new aws.Provider("corp", { region: "eu-west-1" });
const eks = new k8s.Provider("eks", { kubeconfig: config.requireSecret("kubeconfig") });

// 1. Aurora in your VPC (nothing network-related is created).
const pg = new PostgresCluster(
  "orders-db",
  { target: "aws", version: 16, aws: { vpcId, subnetIds, allowedCidrBlocks: ["10.20.0.0/16"] } },
  { providers: [awsProvider] },
);

// 2. RDS Proxy in front of it.
const pooler = new Pooler(
  "orders-db",
  {
    target: "aws",
    aws: {
      clusterIdentifier: pg.clusterIdentifier as pulumi.Output<string>,
      secretArn: pg.adminSecretArn as pulumi.Output<string>,
      subnetIds,
      securityGroupIds: [pg.securityGroupId as pulumi.Output<string>],
    },
  },
  { providers: [awsProvider] },
);

// 3. Your bucket: floe changes none of its settings.
const lake = new ObjectStorage("lake", { target: "aws", aws: { existingBucketName: config.require("bucketName") } }, { providers: [awsProvider] });

// 4. A Glue Iceberg REST catalog over it, and the policy the writer needs.
const catalog = new IcebergCatalog(
  "lake",
  { target: "aws", storage: { bucket: lake.bucket, bucketArn: lake.bucketArn as pulumi.Output<string>, region: lake.region } },
  { providers: [awsProvider] },
);

// 5. The CDC writer on ECS Fargate in your subnets.
const cdc = new CdcWriter(
  "orders-cdc",
  {
    target: "aws",
    sources: [{ name: "primary", host: pg.host, port: pg.port }],
    database: pg.database,
    replicationUsername: pg.roles!.replicationUsername,
    replicationPassword: pg.roles!.replicationPassword,
    tables: [{ source: "public.orders" }, { source: "public.order_events", mode: "changelog" }],
    catalog: { uri: catalog.uri, warehouse: catalog.warehouse, sigv4Service: catalog.sigv4Service, region: catalog.region },
    warehouseLocation: lake.warehouseLocation,
    storage: { region: lake.region },
    aws: { vpcId, subnetIds, bucketArn: lake.bucketArn as pulumi.Output<string>, catalogPolicyArn: catalog.accessPolicyArn as pulumi.Output<string> },
  },
  { providers: [awsProvider] },
);

// 6. On the EKS side: a second Postgres whose operator you already run, with its own pooler.
const analyticsDb = new PostgresCluster(
  "analytics-db",
  { target: "kubernetes", kubernetes: { namespace: "data", installOperator: false, storageClass: "gp3" }, roles: { manage: false } },
  { providers: [eks] },
);
const analyticsPooler = new Pooler(
  "analytics-db-pooler",
  { target: "kubernetes", poolMode: "transaction", kubernetes: { namespace: "data", clusterName: analyticsDb.clusterName as pulumi.Output<string> } },
  { providers: [eks] },
);

export const ordersPooler = pulumi.interpolate`${pooler.host}:${pooler.port}`;
export const ordersConnection = pg.connectionString; // secret
export const catalogUri = catalog.uri;
export const writers = cdc.writers;
export const analyticsPoolerHost = analyticsPooler.host;
