// `pulumi preview`: the generated password and Aurora endpoint are unknown; the component keeps its
// shape, its URLs stay unknown and secret, and nothing is rendered with a placeholder.
import { BlueGreenUpgrade } from "../../../../components/upgrade/blueGreenUpgrade";
import type { FloeMocks } from "../../../../components/testing";
import { countsUnder, installFloeMocks, isKnown, isSecret } from "../helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks({ preview: true });
});

test("kubernetes and aws preview with unknown values", async () => {
  const k = new BlueGreenUpgrade("pk", {
    target: "kubernetes",
    toVersion: 17,
    blueUrl: "postgresql://u:p@b/app",
    poolerAdminUrl: "postgresql://a@p/pgbouncer",
    kubernetes: { poolerConfigClaim: "c" },
  });
  const a = new BlueGreenUpgrade("pa", {
    target: "aws",
    toVersion: 17,
    blueUrl: "postgresql://u:p@b/app",
    poolerAdminUrl: "postgresql://a@p/pgbouncer",
    aws: { vpcId: "v", subnetIds: ["a", "b"], securityGroupIds: ["s"] },
  });
  await m.settled(k.greenUrl, a.greenUrl, a.runTaskCommand);
  expect(countsUnder(m, "pk")["kubernetes:batch/v1:Job"]).toBe(1);
  expect(countsUnder(m, "pa")["aws:rds/cluster:Cluster"]).toBe(1);
  for (const u of [k.greenUrl, a.greenUrl]) {
    expect(await isKnown(u)).toBe(false);
    expect(await isSecret(u)).toBe(true);
  }
  expect(await isKnown(a.greenHost)).toBe(false);
  expect(m.named("pk-env", "kubernetes:core/v1:Secret").inputs.stringData).toEqual({ __pulumiUnknown: true }); // unknown, never rendered with placeholders
  expect(m.secretLeaks()).toEqual([]);
});
