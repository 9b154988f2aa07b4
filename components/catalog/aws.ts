import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { BuildContext } from "../target";
import type { IcebergCatalogArgs, IcebergCatalogBuildResult } from "./args";

export const CATALOG_FLAVORS = ["glue", "s3tables"] as const;

export function buildAwsCatalog(ctx: BuildContext<IcebergCatalogArgs>): IcebergCatalogBuildResult {
  const { name, args, v, childOpts, parent } = ctx;
  const aa = args.aws ?? {};
  if (args.kubernetes) v.fail("kubernetes", "{…}", 'is set but target is "aws"', 'remove it or set target to "kubernetes"');
  const flavor = v.oneOf("aws.flavor", aa.flavor, "glue", CATALOG_FLAVORS);
  const icebergNs = v.sqlIdentifier("namespace", args.namespace ?? "floe");
  const warehouseName = v.dnsLabel("warehouse", args.warehouse ?? "floe");
  if (flavor === "glue" && args.storage.bucketArn === undefined) {
    v.fail(
      "storage.bucketArn",
      undefined,
      'is required on target "aws" with flavor "glue"',
      "pass the bucket's ARN (ObjectStorage.bucketArn) so the access policy can be scoped to it",
    );
  }
  const region = aws.getRegionOutput({}, { parent }).region;
  const account = aws.getCallerIdentityOutput({}, { parent }).accountId;
  const partition = aws.getPartitionOutput({}, { parent }).partition;
  const prefix = args.storage.prefix ?? "warehouse";
  const lakeFormation = aa.lakeFormation ?? false;
  if (lakeFormation && flavor !== "glue") v.fail("aws.lakeFormation", true, `is only used with flavor "glue" (it is "${flavor}")`, "remove aws.lakeFormation");

  let uri: pulumi.Output<string>;
  let warehouse: pulumi.Output<string>;
  let policy: pulumi.Output<string>;
  if (flavor === "glue") {
    const db = new aws.glue.CatalogDatabase(
      `${name}-namespace`,
      {
        name: icebergNs,
        locationUri: pulumi.interpolate`s3://${args.storage.bucket}/${prefix}/${icebergNs}`,
        description: `floe ${name}: tables replicated by the CDC writer`,
      },
      childOpts,
    );
    uri = pulumi.interpolate`https://glue.${region}.amazonaws.com/iceberg`;
    warehouse = account;
    policy = pulumi.all([partition, region, account, db.name, args.storage.bucketArn!]).apply(([p, r, a, dbName, bucketArn]) =>
      JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "IcebergCatalog",
            Effect: "Allow",
            Action: [
              "glue:GetCatalog",
              "glue:GetDatabase",
              "glue:GetDatabases",
              "glue:GetTable",
              "glue:GetTables",
              "glue:CreateTable",
              "glue:UpdateTable",
              "glue:DeleteTable",
            ],
            Resource: [`arn:${p}:glue:${r}:${a}:catalog`, `arn:${p}:glue:${r}:${a}:database/${dbName}`, `arn:${p}:glue:${r}:${a}:table/${dbName}/*`],
          },
          {
            Sid: "WarehouseList",
            Effect: "Allow",
            Action: ["s3:ListBucket", "s3:GetBucketLocation"],
            Resource: [bucketArn],
            Condition: { StringLike: { "s3:prefix": [`${prefix}/*`, prefix] } },
          },
          {
            Sid: "WarehouseObjects",
            Effect: "Allow",
            Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            Resource: [`${bucketArn}/${prefix}/*`],
          },
          // lakeformation:GetDataAccess has no resource type in IAM (the Service Authorization
          // Reference lists none, so only "*" is accepted); what it vends is scoped by the Lake
          // Formation grants on the table. Only for warehouses registered with Lake Formation.
          ...(lakeFormation ? [{ Sid: "LakeFormationData", Effect: "Allow", Action: ["lakeformation:GetDataAccess"], Resource: ["*"] }] : []),
        ],
      }),
    );
  } else {
    const tb = new aws.s3tables.TableBucket(`${name}-table-bucket`, { name: warehouseName }, childOpts);
    new aws.s3tables.Namespace(`${name}-namespace`, { namespace: icebergNs, tableBucketArn: tb.arn }, childOpts);
    uri = pulumi.interpolate`https://s3tables.${region}.amazonaws.com/iceberg`;
    warehouse = tb.arn;
    policy = tb.arn.apply((arn) =>
      JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "S3Tables",
            Effect: "Allow",
            Action: [
              "s3tables:GetTableBucket",
              "s3tables:GetNamespace",
              "s3tables:ListNamespaces",
              "s3tables:ListTables",
              "s3tables:GetTable",
              "s3tables:CreateTable",
              "s3tables:UpdateTableMetadataLocation",
              "s3tables:GetTableMetadataLocation",
              "s3tables:GetTableData",
              "s3tables:PutTableData",
              "s3tables:DeleteTable",
            ],
            Resource: [arn, `${arn}/table/*`],
          },
        ],
      }),
    );
  }
  const accessPolicy = new aws.iam.Policy(
    `${name}-access`,
    { description: `floe ${name}: Iceberg catalog (${flavor}) and warehouse access`, policy },
    childOpts,
  );
  return {
    type: "rest",
    uri,
    warehouse,
    namespace: icebergNs,
    sigv4Service: flavor === "glue" ? "glue" : "s3tables",
    region,
    accessPolicyArn: accessPolicy.arn.apply((a) => a as string | undefined),
  };
}
