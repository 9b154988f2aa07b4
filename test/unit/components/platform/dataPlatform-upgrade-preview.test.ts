// `pulumi preview` of a platform with `upgrade`: green's endpoint, the pooler's admin URL and the
// roles' passwords are unknown; the upgrade still builds the same shape and keeps secrets secret.
import { DataPlatform } from "../../../../components/platform/dataPlatform";
import type { FloeMocks } from "../../../../components/testing";
import { countsUnder, installFloeMocks, isKnown, isSecret } from "../helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks({ preview: true });
});

test("kubernetes platform with upgrade previews with unknown values", async () => {
  const p = new DataPlatform("vku", { target: "kubernetes", pooler: { implementation: "pgbouncer" }, upgrade: { toVersion: 17 } });
  await m.settled(p.poolerEndpoint, p.upgrade!.greenUrl, p.upgrade!.jobName, p.upgradeStatePaths);
  const counts = countsUnder(m, "vku-upgrade");
  expect(counts["kubernetes:postgresql.cnpg.io/v1:Cluster"]).toBe(1);
  expect(counts["kubernetes:batch/v1:Job"]).toBe(1);
  // superuser, two roles, the orchestrator's env
  expect(counts["kubernetes:core/v1:Secret"]).toBe(4);
  expect(await isKnown(p.upgrade!.greenUrl)).toBe(false);
  expect(await isSecret(p.upgrade!.greenUrl)).toBe(true);
  expect(await isKnown(p.upgradeStatePaths)).toBe(true);
  expect(m.secretLeaks()).toEqual([]);
});

test("aws platform with upgrade previews with unknown endpoints", async () => {
  const p = new DataPlatform("vau", {
    target: "aws",
    upgrade: { toVersion: 17, poolerAdminUrl: "postgresql://pgbouncer:pw@pgb:6432/pgbouncer", efsFileSystemId: "fs-1" },
  });
  await m.settled(p.poolerEndpoint, p.upgrade!.greenUrl, p.upgrade!.runTaskCommand);
  const counts = countsUnder(m, "vau-upgrade");
  expect(counts["aws:rds/cluster:Cluster"]).toBe(1);
  expect(counts["postgresql:index/role:Role"]).toBe(2);
  expect(await isKnown(p.upgrade!.greenHost)).toBe(false);
  expect(m.secretLeaks(["pw@pgb"])).toEqual([]);
});
