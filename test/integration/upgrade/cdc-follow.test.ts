/**
 * The CDC writer follows a blue/green major upgrade (Postgres 16 -> 17 behind pgBouncer, clients
 * writing the whole time): it reads blue with origin = none, the orchestrator prepares green's slot
 * before the pause, and after the cutover the writer reads both (green without an initial copy).
 * At the end every Iceberg table equals green, the new primary: no gap, no duplicate.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CdcConfigInput, parseCdcConfig } from "../../../runtime/cdc/config";
import { CdcWriter } from "../../../runtime/cdc/writer";
import { createLogger } from "../../../runtime/core/log";
import { SqlCatalog, Table } from "../../../runtime/iceberg";
import { Upgrade } from "../../../runtime/upgrade/orchestrator";
import { lines, readIceberg, readPostgres } from "../../helpers/compare";
import { startWorld, Workload, World } from "./workload";

jest.setTimeout(180_000);
const quiet = createLogger({}, (l) => process.env.FLOE_TEST_LOG && process.stderr.write(l + "\n"));

describe("CDC writer across a blue/green upgrade", () => {
  let w: World;
  let load: Workload;
  let warehouse: string;
  let catalog: SqlCatalog;
  const writers: { writer: CdcWriter; done: Promise<void> }[] = [];

  const start = async (sources: CdcConfigInput["sources"]) => {
    const config = parseCdcConfig({
      sources,
      tables: [{ source: "public.items" }, { source: "public.counters" }, { source: "public.tickets" }],
      catalog: { type: "sql", uri: w.blue.url("lake") },
      warehouse: `file://${warehouse}`,
      commit: { intervalMs: 100 },
      http: { port: 0 },
    });
    const writer = new CdcWriter(config, { catalog, log: quiet });
    const done = writer.run();
    done.catch(() => undefined);
    writers.push({ writer, done });
    await writer.ready;
    return { writer, done };
  };

  beforeAll(async () => {
    w = await startWorld({ preloadRows: 1000, clients: 3 });
    await w.blue.sql("CREATE DATABASE lake");
    warehouse = mkdtempSync(join(tmpdir(), "floe-follow-wh-"));
    catalog = await SqlCatalog.connect({ name: "floe", url: w.blue.url("lake"), warehouse: `file://${warehouse}` });
    load = new Workload(w.bouncer.url("app"), 3);
  });
  afterAll(async () => {
    for (const x of writers) {
      await x.writer.stop();
      await x.done.catch(() => undefined);
    }
    await load?.stop();
    await catalog?.close();
    await w?.stop();
    if (warehouse) rmSync(warehouse, { recursive: true, force: true });
  });

  it("ends with every Iceberg table equal to green, under continuous writes through the pooler", async () => {
    const blue = { name: "blue", connectionString: w.blue.url("app"), slot: "floe_cdc", publication: "floe", origin: "none" as const };
    const first = await start([blue]);
    load.start();
    await new Promise((r) => setTimeout(r, 500));
    await new Upgrade({
      blueUrl: w.blue.url("app"),
      greenUrl: w.green.url("app"),
      pooler: w.bouncer.control,
      statePath: join(w.dir, "state.json"),
      budgetMs: 5000,
      cdc: { publication: "floe", slot: "floe_cdc" },
    }).run();
    // The cutover is done: clients now write to green. Point the writer at both sides.
    await first.writer.stop();
    await first.done;
    await start([blue, { name: "green", connectionString: w.green.url("app"), slot: "floe_cdc", publication: "floe", origin: "none", initialCopy: false }]);
    await new Promise((r) => setTimeout(r, 800));
    await load.stop();
    expect(load.errors).toEqual([]);

    for (const table of ["items", "counters", "tickets"]) {
      const deadline = Date.now() + 30_000;
      let pg: string[] = [];
      let ice: string[] = [];
      while (Date.now() < deadline) {
        pg = lines(await readPostgres(w.green.url("app"), table));
        const t = await Table.load(catalog, { namespace: ["floe"], name: table });
        ice = lines(readIceberg(t.metadata.location, t.schema().fields));
        if (JSON.stringify(pg) === JSON.stringify(ice)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(ice).toEqual(pg);
    }
    const items = await Table.load(catalog, { namespace: ["floe"], name: "items" });
    expect(items.summaryProperty("floe.lsn.green")).toBeDefined(); // green's own writes arrived through green's slot
    expect(load.acked.size).toBeGreaterThan(0);
  });
});
