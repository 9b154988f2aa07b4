// The whole platform on AWS. `pulumi up` in this directory (after `npm install` at the root).
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { DataPlatform } from "../../components";

const config = new pulumi.Config();
const awsConfig = new pulumi.Config("aws");
const provider = new aws.Provider("aws", { region: (awsConfig.get("region") as aws.Region | undefined) ?? "us-east-1" });

const platform = new DataPlatform(
  "floe",
  {
    target: "aws",
    postgres: {
      version: 16,
      shards: config.getNumber("shards") ?? 1,
      instances: 2,
      aws: { instanceClass: "db.r6g.large", backupRetentionDays: 7 },
      // Pulumi manages roles through this host: the cluster is private, so run the program from
      // inside the VPC (or through a tunnel) and set adminHost accordingly.
      roles: { adminHost: config.get("adminHost") },
    },
    catalog: { awsFlavor: "glue" },
    query: { athena: true },
    cdc: { cpu: 2048, memory: 4096 },
  },
  { providers: { aws: provider } },
);

export const poolerEndpoint = platform.poolerEndpoint;
export const connectionString = platform.connectionString; // secret
export const connectionSecretArn = platform.connectionSecret;
export const catalogUri = platform.catalogUri;
export const warehouse = platform.warehouse;
export const warehouseLocation = platform.warehouseLocation;
export const athenaWorkgroup = platform.athenaWorkgroup;
