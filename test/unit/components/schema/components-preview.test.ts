/** DatabaseBranch and SchemaMigration under `pulumi preview` (computed values unknown). */
import { join } from "node:path";
import { installFloeMocks, isKnown, valueOf, only } from "../helpers";
import type { FloeMocks } from "../../../../components/testing";
import { DatabaseBranch } from "../../../../components/branch/databaseBranch";
import { SchemaMigration } from "../../../../components/schema/schema-migration";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks({ preview: true });
});

it("an Aurora branch previews with its endpoint unknown, the clone settings known", async () => {
  const b = new DatabaseBranch("pv", { target: "aws", aws: { sourceClusterIdentifier: "prod" } });
  await m.settled(b.database);
  expect(await isKnown(b.host)).toBe(false);
  expect(await isKnown(b.connectionString)).toBe(false);
  expect(await valueOf(b.database)).toBe("app");
  expect(only(m, "aws:rds/cluster:Cluster").inputs.restoreToPointInTime.restoreType).toBe("copy-on-write");
});

it("SchemaMigration lints during preview", async () => {
  const s = new SchemaMigration("pv-m", { files: [join(__dirname, "../../../fixtures/migrations/002_safe_add_nullable_column.sql")] });
  expect(await isKnown(s.report)).toBe(true);
  expect(await valueOf(s.report)).toMatchObject({ files: 1, errors: 0 });
});
