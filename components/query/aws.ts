import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { BuildContext } from "../target";
import type { QueryEnginesArgs, QueryEnginesBuildResult } from "./args";
import { catalogProperties, trinoRelease } from "./trino";

export function buildAwsQueryEngines(ctx: BuildContext<QueryEnginesArgs>): QueryEnginesBuildResult {
  const { name, args, v, childOpts } = ctx;
  const aa = args.aws ?? {};
  if (args.kubernetes)
    v.fail("kubernetes", "{…}", 'is set but target is "aws"', 'remove it or set target to "kubernetes" (Trino on EKS is configured under aws)');
  if (args.clickhouse)
    v.fail("clickhouse", true, 'is not available on target "aws"', 'remove it, or run QueryEngines with target "kubernetes" on your EKS cluster');
  const catalogName = v.sqlIdentifier("catalog.name", args.catalog.name ?? "floe");
  const cutoff = v.int("aws.bytesScannedCutoffPerQuery", aa.bytesScannedCutoffPerQuery, 2 ** 40, 10 * 2 ** 20, Number.MAX_SAFE_INTEGER);
  v.dnsLabel("name", name, 50);

  let athenaWorkgroup: pulumi.Output<string | undefined> = pulumi.output(undefined);
  if (args.athena ?? true) {
    const wg = new aws.athena.Workgroup(
      `${name}-athena`,
      {
        name: `${name}-athena`,
        description: `floe ${name}: queries over the Iceberg tables in the Glue catalog`,
        forceDestroy: false,
        configuration: {
          enforceWorkgroupConfiguration: true,
          publishCloudwatchMetricsEnabled: true,
          bytesScannedCutoffPerQuery: cutoff,
          engineVersion: { selectedEngineVersion: "AUTO" },
          resultConfiguration: {
            outputLocation: aa.athenaResultsLocation ?? pulumi.interpolate`s3://${args.storage.bucket}/athena-results/`,
            encryptionConfiguration: aa.kmsKeyArn ? { encryptionOption: "SSE_KMS", kmsKeyArn: aa.kmsKeyArn } : { encryptionOption: "SSE_S3" },
          },
        },
      },
      childOpts,
    );
    athenaWorkgroup = wg.name.apply((n) => n as string | undefined);
  }

  let trinoEndpoint: pulumi.Output<string | undefined> = pulumi.output(undefined);
  if (args.trino ?? false) {
    if (aa.trinoRoleArn === undefined) {
      v.fail(
        "aws.trinoRoleArn",
        undefined,
        "is required when trino is true on aws",
        "pass the IAM role Trino's ServiceAccount assumes on EKS (IRSA) with IcebergCatalog.accessPolicyArn attached, or set trino to false",
      );
    }
    const ns = v.dnsLabel("aws.trinoNamespace", aa.trinoNamespace ?? "floe");
    const region = args.storage.region ?? "us-east-1";
    const props = pulumi.all([args.catalog.uri, args.catalog.warehouse, region]).apply(([uri, wh, r]) =>
      catalogProperties({
        "connector.name": "iceberg",
        "iceberg.catalog.type": "rest",
        "iceberg.rest-catalog.uri": uri,
        "iceberg.rest-catalog.warehouse": wh,
        "iceberg.rest-catalog.security": "SIGV4",
        "iceberg.rest-catalog.signing-name": uri.includes("s3tables") ? "s3tables" : "glue",
        "iceberg.rest-catalog.view-endpoints-enabled": "false",
        "fs.native-s3.enabled": "true",
        "s3.region": r,
      }),
    );
    const t = trinoRelease(
      name,
      ns,
      catalogName,
      props,
      { server: { workers: 2 }, serviceAccount: { create: true, name: `${name}-trino`, annotations: { "eks.amazonaws.com/role-arn": aa.trinoRoleArn } } },
      undefined,
      undefined,
      childOpts,
    );
    trinoEndpoint = t.endpoint.apply((e) => e as string | undefined);
  }
  return { trinoEndpoint, clickhouseEndpoint: pulumi.output(undefined), clickhousePassword: pulumi.output(undefined), athenaWorkgroup };
}
