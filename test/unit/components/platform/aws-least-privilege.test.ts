// Every IAM policy and security group a DataPlatform on aws declares, read back from the mocks:
// no "*" resource where floe knows the ARN, and no 0.0.0.0/0 anywhere.
import { DataPlatform, type DataPlatformArgs } from "../../../../components/platform/dataPlatform";
import type { FloeMocks, RecordedResource } from "../../../../components/testing";
import { installFloeMocks, underRoot } from "../helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks();
});

async function synth(name: string, args: DataPlatformArgs) {
  const p = new DataPlatform(name, args);
  await m.settled(p.connectionString, p.connectionSecret, p.cdc!.writers, p.catalogUri, p.poolerEndpoint);
  return p;
}

type Grant = { policy: string; actions: string[]; resource: string };

/** Each (statement, resource) of the inline and customer-managed policies under `root`. */
function grants(root: string): Grant[] {
  const policies = m.resources.filter((r) => (r.type === "aws:iam/policy:Policy" || r.type === "aws:iam/rolePolicy:RolePolicy") && underRoot(m, r, root));
  return policies.flatMap((r: RecordedResource) =>
    (JSON.parse(r.inputs.policy).Statement as any[])
      .filter((st) => st.Effect === "Allow")
      .flatMap((st) => [st.Resource].flat().map((resource: string) => ({ policy: r.name, actions: [st.Action].flat(), resource }))),
  );
}

/**
 * A resource that names no specific thing: "*", or an ARN whose resource part is a bare wildcard
 * after its type (`…:target-group:*`, `…:cluster/*`). S3 ARNs have no type: `bucket/*` is the
 * bucket's objects.
 */
const unscoped = (arn: string) => arn === "*" || /^arn:[^:]*:(?!s3:)[^:]*:[^:]*:[^:]*:(?:[a-z-]+[:/])?\*$/.test(arn);

const CASES: [string, DataPlatformArgs][] = [
  ["network created, pooler, Athena", { target: "aws" }],
  [
    "with an upgrade",
    { target: "aws", upgrade: { toVersion: 17, poolerAdminUrl: "postgresql://pgbouncer:pw@pgb.internal:6432/pgbouncer", efsFileSystemId: "fs-123" } },
  ],
  ["sharded on Limitless, your VPC", { target: "aws", postgres: { shards: 2, aws: { vpcId: "vpc-1", subnetIds: ["subnet-a", "subnet-b"] } } }],
  ["S3 Tables catalog", { target: "aws", catalog: { awsFlavor: "s3tables" } }],
];

describe("DataPlatform on aws: least privilege", () => {
  test.each(CASES)("%s: every Allow names the resources it is for", async (_, args) => {
    const root = `lp${CASES.findIndex((c) => c[1] === args)}`;
    await synth(root, args);
    const gs = grants(root);
    expect(gs.length).toBeGreaterThan(5);
    expect(gs.filter((g) => unscoped(g.resource))).toEqual([]);
    // and no security group opens anything to the internet
    const groups = m.resources.filter((r) => r.type === "aws:ec2/securityGroup:SecurityGroup" && underRoot(m, r, root));
    expect(groups.length).toBeGreaterThanOrEqual(2);
    expect(groups.filter((g) => JSON.stringify([g.inputs.ingress, g.inputs.egress]).includes("0.0.0.0/0")).map((g) => g.name)).toEqual([]);
  });

  test("the check sees a wildcard: Lake Formation's GetDataAccess, which IAM grants on * only, is the one there when asked for", async () => {
    await synth("lplf", { target: "aws", catalog: { awsLakeFormation: true } });
    expect(grants("lplf").filter((g) => unscoped(g.resource))).toEqual([
      { policy: "lplf-catalog-access", actions: ["lakeformation:GetDataAccess"], resource: "*" },
    ]);
    expect(["arn:aws:rds:us-east-1:1:target-group:*", "arn:aws:rds:us-east-1:1:cluster:*", "*"].map(unscoped)).toEqual([true, true, true]);
    expect(["arn:aws:s3:::lake/*", "arn:aws:glue:us-east-1:1:table/floe/*", "arn:aws:rds:us-east-1:1:target-group:prx-tg-1"].map(unscoped)).toEqual([
      false,
      false,
      false,
    ]);
  });

  test('the writer reaches the AWS APIs through VPC endpoints; "internet" is an explicit choice', async () => {
    await synth("lpin", { target: "aws", cdc: { vpcEndpoints: "internet" } });
    const sg = m.named("lpin-cdc-sg");
    expect(JSON.stringify(sg.inputs.egress)).toContain("0.0.0.0/0");
    expect(m.resources.filter((r) => r.type === "aws:ec2/vpcEndpoint:VpcEndpoint" && underRoot(m, r, "lpin"))).toHaveLength(0);
  });
});
