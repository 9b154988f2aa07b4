/**
 * DataPlatform on aws: an S3 bucket (or yours), Aurora PostgreSQL (Limitless when sharded), RDS
 * Proxy (none in front of Limitless: its routers pool), the Glue or S3 Tables catalog (or yours),
 * Athena (and Trino on EKS), the CDC writer on Fargate, the application connection in Secrets
 * Manager, and with `upgrade` a BlueGreenUpgrade driving your pgBouncer.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { BuildContext } from "../target";
import { pgUrl } from "../util";
import type { DataPlatformArgs } from "./args";
import { cdcCommon, checkCloudArgs, cloudUpgradeArgs, type CatalogView } from "./common";
import type { PlatformBuild, PlatformPieces } from "./pieces";

export function wireAws(ctx: BuildContext<DataPlatformArgs>, make: PlatformPieces): PlatformBuild {
  const { name, args, v, parent } = ctx;
  if ((args.postgres?.shards ?? 1) > 1 && args.pooler?.poolMode !== undefined && args.pooler.poolMode !== "transaction") {
    v.fail("pooler.poolMode", args.pooler.poolMode, "cannot be applied to Aurora Limitless (its routers pool connections)", "remove pooler.poolMode");
  }
  checkCloudArgs(v, "aws", args);
  const up = args.upgrade;
  if (up?.poolerAdminUrl === undefined && up)
    v.fail(
      "upgrade.poolerAdminUrl",
      undefined,
      "is required on aws: RDS Proxy has no PAUSE, so the cutover needs a pgBouncer in front of Aurora",
      "pass the admin console URL of your pgBouncer (postgres://user:password@host:port/pgbouncer), or use RDS Blue/Green Deployments",
    );
  if (up && up.efsFileSystemId === undefined)
    v.fail(
      "upgrade.efsFileSystemId",
      undefined,
      "is required on aws: the orchestrator task rewrites that pgBouncer's pgbouncer.ini",
      "pass the EFS file system that holds pgbouncer.ini",
    );
  const pgArgs = args.postgres ?? {};
  const ro = pgArgs.roles ?? {};
  const cdcArgs = args.cdc ?? {};
  const q = args.query ?? {};
  const cat = args.catalog ?? {};
  const o = { parent };

  const storage = make.storage({ ...args.storage });
  const postgres = make.postgres({ ...pgArgs });
  const roles = postgres.roles!;
  const limitless = postgres.engine === "aurora-limitless";
  let pooler;
  if (!limitless) {
    const { implementation, configStorageClass, ...p } = args.pooler ?? {};
    if (implementation !== undefined || configStorageClass !== undefined) {
      v.fail(
        "pooler.implementation",
        implementation,
        'and pooler.configStorageClass apply to target "kubernetes" only',
        "remove them (on aws the pooler is RDS Proxy)",
      );
    }
    pooler = make.pooler({
      ...p,
      aws: {
        clusterIdentifier: postgres.clusterIdentifier as pulumi.Output<string>,
        secretArn: postgres.adminSecretArn as pulumi.Output<string>,
        subnetIds: postgres.subnetIds as pulumi.Output<string[]>,
        securityGroupIds: [postgres.securityGroupId as pulumi.Output<string>],
        kmsKeyArn: pgArgs.aws?.kmsKeyId,
      },
    });
  }
  let cv: CatalogView;
  let catalog;
  if (cat.existingUri !== undefined) {
    cv = {
      uri: pulumi.output(cat.existingUri),
      warehouse: pulumi.output(cat.existingWarehouse!),
      sigv4Service: cat.existingSigv4Service,
      region: storage.region,
      accessPolicyArn: cat.existingAccessPolicyArn,
    };
  } else {
    catalog = make.catalog({
      warehouse: cat.warehouse,
      namespace: cat.namespace,
      storage: { bucket: storage.bucket, bucketArn: storage.bucketArn as pulumi.Output<string>, region: storage.region },
      aws: { flavor: cat.awsFlavor, lakeFormation: cat.awsLakeFormation },
    });
    cv = {
      uri: catalog.uri,
      warehouse: catalog.warehouse,
      sigv4Service: catalog.sigv4Service,
      region: catalog.region,
      accessPolicyArn: catalog.accessPolicyArn as pulumi.Output<string>,
    };
  }
  const query = make.query({
    trino: q.trino,
    clickhouse: q.clickhouse,
    athena: q.athena,
    catalog: { uri: cv.uri, warehouse: cv.warehouse },
    storage: { bucket: storage.bucket, region: storage.region },
    aws: q.aws,
  });
  const cdc = make.cdc({
    ...cdcCommon(postgres, storage, pgArgs.shards ?? 1, cdcArgs, ro.publication ?? "floe"),
    storage: { region: storage.region },
    catalog: { uri: cv.uri, warehouse: cv.warehouse, sigv4Service: cv.sigv4Service, region: cv.region },
    aws: {
      vpcId: postgres.vpcId as pulumi.Output<string>,
      subnetIds: postgres.subnetIds as pulumi.Output<string[]>,
      bucketArn: storage.bucketArn as pulumi.Output<string>,
      catalogPolicyArn: cv.accessPolicyArn,
      clusterArn: cdcArgs.ecsClusterArn,
      cpu: cdcArgs.cpu,
      memory: cdcArgs.memory,
      postgresCidrBlocks: pgArgs.aws?.allowedCidrBlocks,
      vpcEndpoints: cdcArgs.vpcEndpoints,
      routeTableIds: cdcArgs.routeTableIds,
    },
  });
  const host = pooler ? pooler.host : postgres.host;
  const port = pooler ? pooler.port : postgres.port;
  const connectionString = pgUrl(roles.appUsername, roles.appPassword, host, port, postgres.database);
  const secret = new aws.secretsmanager.Secret(
    `${name}-app-connection`,
    { description: `floe ${name}: application connection (through the pooler)`, recoveryWindowInDays: 7 },
    o,
  );
  new aws.secretsmanager.SecretVersion(
    `${name}-app-connection`,
    {
      secretId: secret.id,
      secretString: pulumi.secret(
        pulumi
          .all([connectionString, host, port, postgres.database, roles.appUsername, roles.appPassword])
          .apply(([uri, h, po, d, u, pw]) => JSON.stringify({ uri, host: h, port: po, dbname: d, username: u, password: pw, engine: "postgres" })),
      ),
    },
    o,
  );
  const upgrades = [];
  if (up) {
    const db = pgArgs.database ?? "app";
    upgrades.push(
      make.upgrade(
        {
          ...cloudUpgradeArgs(postgres, up, db, ro.publication ?? "floe"),
          poolerAdminUrl: up.poolerAdminUrl!,
          aws: {
            vpcId: postgres.vpcId as pulumi.Output<string>,
            subnetIds: postgres.subnetIds as pulumi.Output<string[]>,
            securityGroupIds: [postgres.securityGroupId as pulumi.Output<string>],
            efsFileSystemId: up.efsFileSystemId,
            kmsKeyId: pgArgs.aws?.kmsKeyId,
          },
        },
        { dependsOn: [cdc] },
      ),
    );
  }
  return {
    postgres,
    pooler,
    storage,
    catalog,
    query,
    cdc,
    upgrades,
    poolerEndpoint: pulumi.interpolate`${host}:${port}`,
    connectionString,
    connectionSecret: secret.arn,
    catalogUri: cv.uri,
    warehouse: cv.warehouse,
    warehouseLocation: storage.warehouseLocation,
    upgradeStatePaths: pulumi.output(up ? ["/pooler/floe-upgrade-state.json"] : []),
  };
}
