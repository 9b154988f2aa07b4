/**
 * Apache Iceberg's own Java library (iceberg-core 1.10, from the REST fixture install) plans
 * scans of tables written here: it must parse the metadata JSON and the Avro manifests, attach
 * every position delete file to the data files it targets (sequence numbers, partitions,
 * file_path bounds), and prune with the column stats without losing a matching file.
 */
import { execFile } from "child_process";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { promisify } from "util";
import { INSTALL_TIMEOUT_MS, installIcebergRest } from "../../helpers/iceberg-rest";
import { MemoryCatalog, Table, fileUri } from "../../../runtime/iceberg";
import { readManifest, readManifestList } from "../../../runtime/iceberg/manifests";
import { readPositionDeletes } from "../../../runtime/iceberg/parquet";

process.env.FLOE_LOG_LEVEL ??= "warn";
const run = promisify(execFile);
let lib: string;
let classes: string;
let dir: string;

beforeAll(async () => {
  lib = join(await installIcebergRest(), "lib");
  classes = mkdtempSync(join(tmpdir(), "floe-planscan-"));
  await run("javac", ["-nowarn", "-d", classes, "-cp", `${lib}/*`, join(__dirname, "java/PlanScan.java")]);
  dir = mkdtempSync(join(tmpdir(), "floe-iceberg-java-"));
}, INSTALL_TIMEOUT_MS);
afterAll(() => {
  if (classes) rmSync(classes, { recursive: true, force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Task {
  path: string;
  records: number;
  deletes: string[];
}

async function plan(metadataLocation: string, filter?: [string, bigint]): Promise<Task[]> {
  const args = ["-XX:TieredStopAtLevel=1", "-cp", `${classes}:${lib}/*`, "PlanScan", metadataLocation, ...(filter ? [filter[0], String(filter[1])] : [])];
  const { stdout } = await run("java", args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout
    .split("\n")
    .filter((l) => l.startsWith('{"path"'))
    .map((l) => JSON.parse(l));
}

describe("Iceberg Java plans scans of floe tables", () => {
  it("attaches every position delete to its data file and prunes by stats without losing rows", async () => {
    const cat = new MemoryCatalog(fileUri(dir));
    await cat.createNamespace(["db"]);
    const id = { namespace: ["db"], name: "orders" };
    await Table.create(cat, id, {
      columns: [
        { name: "id", type: "long", required: true },
        { name: "region", type: "string" },
        { name: "amount", type: "decimal(20,2)" },
        { name: "at", type: "timestamptz" },
        { name: "note", type: "string" },
      ],
      identifier: ["id"],
      // Java recomputes bucket / day values from filter literals: wrong partition values would prune live files
      partitionBy: ["region", "bucket(4, id)", "day(at)"],
    });
    const t = await Table.load(cat, id, { rowsPerFile: 40, maxManifests: 6 });
    const model = new Set<bigint>();
    for (let c = 0; c < 8; c++) {
      const rows = Array.from({ length: 60 }, (_, i) => {
        const k = BigInt((c * 37 + i * 11) % 300);
        // updates move rows between partitions
        return {
          id: k,
          region: ["eu", "us", null][Number((k + BigInt(c)) % 3n)],
          amount: `${-Number(k) * 3}.25`,
          at: 1_700_000_000_000_000n + k * 3_600_000_000n,
          [c > 4 ? "comment" : "note"]: `c${c}`,
        };
      });
      const dels = Array.from({ length: 6 }, (_, i) => ({ id: BigInt((c * 53 + i * 7) % 300) }));
      await t.newWrite().upsert(rows).delete(dels).commit();
      for (const r of rows) model.add(r.id);
      for (const d of dels) model.delete(d.id);
      if (c === 4) await t.updateSchema().renameColumn("note", "comment").updateColumnType("amount", "decimal(24,2)").commit();
    }
    const io = cat.fileIO();
    const tasks = await plan(t.metadataLocation);
    // Java plans exactly the live data files
    const entries = (await Promise.all((await readManifestList(io, t.currentSnapshot()!["manifest-list"])).map((m) => readManifest(io, m))))
      .flat()
      .filter((e) => e.status !== 2);
    const dataFiles = entries
      .filter((e) => e.file.content === 0)
      .map((e) => e.file.file_path)
      .sort();
    expect(tasks.map((x) => x.path).sort()).toEqual(dataFiles);
    // every delete of a data file is attached to it, so Java readers drop exactly those rows
    const deleteFiles = entries.filter((e) => e.file.content === 1).map((e) => e.file.file_path);
    const targets = new Map<string, { path: string; pos: number }[]>();
    for (const f of deleteFiles) targets.set(f, await readPositionDeletes(await io.read(f), f));
    let live = 0;
    for (const task of tasks) {
      const needed = deleteFiles.filter((f) => targets.get(f)!.some((d) => d.path === task.path));
      expect(task.deletes.sort()).toEqual(expect.arrayContaining(needed.sort()));
      const gone = new Set(
        task.deletes.flatMap((f) =>
          targets
            .get(f)!
            .filter((d) => d.path === task.path)
            .map((d) => d.pos),
        ),
      );
      live += task.records - gone.size;
    }
    expect(live).toBe(model.size);
    // pruning with the stats never drops the file that holds a key
    for (const k of [...model].slice(0, 6)) {
      const where = t.pkIndex!.get(String(k))!.path;
      const pruned = await plan(t.metadataLocation, ["id", k]);
      expect(pruned.map((x) => x.path)).toContain(where);
    }
    // and a key above every file's upper bound prunes every file
    expect(await plan(t.metadataLocation, ["id", 100_000n])).toEqual([]);
    // after compaction Java sees no delete files and the same live row count
    await t.compact({ deletes: true });
    const after = await plan(t.metadataLocation);
    expect(after.every((x) => x.deletes.length === 0)).toBe(true);
    expect(after.reduce((a, x) => a + x.records, 0)).toBe(model.size);
  });
});
