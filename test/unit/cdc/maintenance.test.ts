/**
 * The writer's maintenance (runtime/cdc/maintenance.ts) on a local table: the data and delete
 * files an expiry deferred (expiredFileGraceMs) are deleted once due even when the table goes quiet
 * and no pass follows, and nothing is deleted after stop().
 */
import { existsSync, mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { parseCdcConfig } from "../../../runtime/cdc/config";
import { WriterMaintenance } from "../../../runtime/cdc/maintenance";
import { createLogger } from "../../../runtime/core/log";
import { MemoryCatalog, Table, fileUri } from "../../../runtime/iceberg";
import { localPath } from "../../../runtime/iceberg/io";
import { currentEntries } from "../../helpers/iceberg-read";
import { waitUntil } from "../../helpers/wait";

process.env.FLOE_LOG_LEVEL = "error";
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "floe-cdc-maint-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (graceMs: number) =>
  parseCdcConfig({
    sources: [{ name: "pg", connectionString: "postgres://u@127.0.0.1:5432/app" }],
    catalog: { type: "sql", uri: "postgres://u@127.0.0.1:5432/lake" },
    warehouse: fileUri(dir),
    tables: [{ source: "public.t" }],
    maintenance: { keepSnapshots: 1, convergeRatio: 0.01, expiredFileGraceMs: graceMs },
  });

async function churned(name: string): Promise<{ t: Table; replaced: string[] }> {
  const cat = new MemoryCatalog(fileUri(join(dir, name)));
  await cat.createNamespace(["db"]);
  const t = await Table.create(
    cat,
    { namespace: ["db"], name: "t" },
    {
      columns: [
        { name: "id", type: "long", required: true },
        { name: "v", type: "string" },
      ],
      identifier: ["id"],
    },
  );
  await t
    .newWrite()
    .upsert(Array.from({ length: 100 }, (_, i) => ({ id: BigInt(i), v: `a${i}` })))
    .commit();
  const replaced = await currentFiles(t); // the first snapshot's data file: the compaction replaces it
  await t
    .newWrite()
    .upsert([{ id: 1n, v: "b" }])
    .commit();
  return { t, replaced };
}

async function currentFiles(t: Table): Promise<string[]> {
  return (await currentEntries(t)).map((e) => e.file.file_path);
}

describe("writer maintenance", () => {
  it("deletes the files an expiry deferred once their grace is over, with no commit or pass after it", async () => {
    const { t, replaced } = await churned("quiet");
    const m = new WriterMaintenance(config(300), createLogger());
    m.afterCommit(t, "t"); // compacts (convergeRatio), then expires the old snapshots: their files wait 300 ms
    await waitUntil("the pass to defer the replaced files", () => t.pendingDeletes.files > 0);
    for (const f of replaced) expect(existsSync(localPath(f))).toBe(true);
    // deleteDue takes them off the list, then deletes them
    await waitUntil("the deferred files to be deleted", () => t.pendingDeletes.files === 0 && replaced.every((f) => !existsSync(localPath(f))));
    await m.stop();
  });

  it("after stop() nothing more is deleted: what is waiting is left to the orphan scan", async () => {
    const { t, replaced } = await churned("stopped");
    const m = new WriterMaintenance(config(200), createLogger());
    m.afterCommit(t, "t");
    await waitUntil("the pass to defer the replaced files", () => t.pendingDeletes.files > 0);
    await m.stop();
    await new Promise((r) => setTimeout(r, 500));
    expect(t.pendingDeletes.files).toBeGreaterThan(0);
    for (const f of replaced) expect(existsSync(localPath(f))).toBe(true);
  });
});
