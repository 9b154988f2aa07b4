// The examples are not compiled by CI's tsc (tsconfig excludes examples/), so run them here under
// mocks: each must construct without errors and produce the outputs it exports.
import * as pulumi from "@pulumi/pulumi";
import { installFloeMocks, valueOf } from "./helpers";

async function runExample(dir: string, project: string, config: Record<string, string>) {
  jest.resetModules();
  const m = await installFloeMocks({ project });
  pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(config).map(([k, v]) => [`${project}:${k}`, v])));

  const exportsOf = require(`../../../examples/${dir}/index.ts`);
  await m.settled(...(Object.values(exportsOf).filter((x) => pulumi.Output.isInstance(x)) as pulumi.Output<unknown>[]));
  return { m, exportsOf };
}

test("examples/kubernetes", async () => {
  const { m, exportsOf } = await runExample("kubernetes", "floe-kubernetes", {});
  expect(await valueOf(exportsOf.catalogUri)).toBe("https://floe-catalog-lakekeeper-tls.floe.svc.cluster.local:8443/catalog");
  expect(m.secretLeaks()).toEqual([]);
});

test("examples/aws", async () => {
  const { m, exportsOf } = await runExample("aws", "floe-aws", {});
  expect(await valueOf(exportsOf.athenaWorkgroup)).toBe("floe-query-athena");
  expect(m.secretLeaks()).toEqual([]);
});

test("examples/existing-stack", async () => {
  const { m, exportsOf } = await runExample("existing-stack", "floe-existing-stack", {
    vpcId: "vpc-corp",
    privateSubnetIds: JSON.stringify(["subnet-1", "subnet-2"]),
    bucketName: "corp-lake",
    kubeconfig: "{}",
  });
  expect(m.ofType("aws:ec2/vpc:Vpc")).toHaveLength(0);
  expect(m.ofType("aws:s3/bucket:Bucket")).toHaveLength(0);
  expect(m.ofType("kubernetes:helm.sh/v3:Release")).toHaveLength(0);
  expect(await valueOf(exportsOf.writers)).toEqual(["orders-cdc-primary"]);
  expect(await valueOf(exportsOf.analyticsPoolerHost)).toBe("analytics-db-pooler.data.svc.cluster.local");
  expect(m.secretLeaks()).toEqual([]);
});
