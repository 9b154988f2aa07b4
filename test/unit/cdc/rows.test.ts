/**
 * The writer's row versions of a pending batch (for unchanged TOAST values) with a spilling write:
 * `latest` holds only what is still buffered, and every key's newest version is found in
 * `latest` first, then in the transaction's spilled rows.
 */
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { MemoryCatalog, Table, fileUri } from "../../../runtime/iceberg";
import { trackLatest, tracksLatest } from "../../../runtime/cdc/rows";

process.env.FLOE_LOG_LEVEL = "error";
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "floe-rows-unit-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("latest is cleared when the pending write spills; spilledVersion answers for the rows it held", async () => {
  const cat = new MemoryCatalog(fileUri(dir));
  await cat.createNamespace(["db"]);
  const t = await Table.create(
    cat,
    { namespace: ["db"], name: "t" },
    {
      columns: [
        { name: "id", type: "int", required: true },
        { name: "body", type: "string" },
      ],
      identifier: ["id"],
    },
    { spillRows: 4 },
  );
  const tx = t.newWrite();
  const latest = new Map<string, Record<string, unknown> | null>();
  tx.upsert([
    { id: 1, body: "one" },
    { id: 2, body: "two" },
  ]);
  trackLatest(tx, ["id"], latest);
  expect(tracksLatest(tx)).toBe(true);
  expect([...latest.keys()]).toEqual(["1", "2"]);
  // what apply() does per row while tracking
  const put = (row: { id: number; body: string | null }, deleted = false) => {
    if (deleted) tx.delete([row]);
    else tx.upsert([row]);
    latest.set(String(row.id), deleted ? null : row);
  };
  put({ id: 3, body: "three" });
  put({ id: 2, body: "two'" }); // 4 buffered: spills, latest is cleared, then this row is set
  expect(tx.spilled).toBe(true);
  expect([...latest.keys()]).toEqual(["2"]);
  put({ id: 1, body: null }, true);
  const newest = async (id: number) => (latest.has(String(id)) ? latest.get(String(id)) : await tx.spilledVersion({ id }));
  expect(await newest(1)).toBeNull();
  expect(await newest(2)).toEqual({ id: 2, body: "two'" });
  expect(await newest(3)).toEqual({ id: 3, body: "three" });
  expect(await newest(4)).toBeUndefined();
  await tx.commit();
});
