/**
 * The CDC writer follows a blue/green major upgrade by itself (Postgres 16 -> 17, 17 -> 18 and
 * 16 -> 18 behind pgBouncer, clients writing the whole time; after the cutover the writer decodes
 * green's pgoutput, Postgres 18's for the last two; Iceberg is read back by chdb). The writer is
 * configured with blue only; the orchestrator's handoff message moves it to green at the cutover,
 * a restart keeps it on green, and a rollback moves it back to blue. `counters` is replicated as a changelog: every client transaction adds 1
 * to its client's counter, so the changelog must hold each value 1..n exactly once per client — a
 * duplicated or lost transaction anywhere across the switches shows up as a repeat or a gap.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCdcConfig } from "../../../runtime/cdc/config";
import { CdcWriter } from "../../../runtime/cdc/writer";
import { createLogger } from "../../../runtime/core/log";
import { registry } from "../../../runtime/core/metrics";
import { SqlCatalog } from "../../../runtime/iceberg";
import { loadState } from "../../../runtime/upgrade/state";
import { expectEachCounterValueOnce, expectMirrorsEqual, followConfig, followRecord, followUpgrade, loadTable } from "./follow";
import { startWorld, waitFor, Workload, World, worldProgress } from "./workload";

const quiet = createLogger({}, (l) => process.env.FLOE_TEST_LOG && process.stderr.write(l + "\n"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each([
  [16, 17],
  [17, 18],
  [16, 18],
])("CDC writer across a blue/green upgrade %i -> %i and its rollback", (blueMajor, greenMajor) => {
  let w: World;
  let load: Workload;
  let warehouse: string;
  let catalog: SqlCatalog;
  let statePath: string;
  const writers: { writer: CdcWriter; done: Promise<void> }[] = [];

  const start = async () => {
    const writer = new CdcWriter(parseCdcConfig(followConfig(w, warehouse)), { catalog, log: quiet });
    const done = writer.run();
    done.catch(() => undefined);
    writers.push({ writer, done });
    await writer.ready;
    return { writer, done };
  };
  const upgrade = () => followUpgrade(w, statePath, quiet);
  const follow = () => followRecord(catalog);

  beforeAll(async () => {
    w = await startWorld({ preloadRows: 1000, clients: 3, blueMajor, greenMajor });
    expect([
      (Number((await w.blue.sql("SHOW server_version_num"))[0].server_version_num) / 10000) | 0,
      (Number((await w.green.sql("SHOW server_version_num"))[0].server_version_num) / 10000) | 0,
    ]).toEqual([blueMajor, greenMajor]);
    await w.blue.sql("CREATE DATABASE lake");
    warehouse = mkdtempSync(join(tmpdir(), "floe-follow-wh-"));
    catalog = await SqlCatalog.connect({ name: "floe", url: w.blue.url("lake"), warehouse: `file://${warehouse}` });
    load = new Workload(w.bouncer.url("app"), 3);
    statePath = join(w.dir, "state.json");
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

  it("moves to green at the cutover, stays there across a restart, and back to blue at the rollback", async () => {
    registry.resetMetrics(); // one registry for the whole file: count this upgrade's handoffs only
    const moving = { progress: worldProgress(w, warehouse) };
    let current = await start();
    load.start();
    await sleep(500);

    // Cutover: the running writer switches to green by itself.
    await upgrade().run();
    await waitFor("the writer to follow the cutover", async () => (await follow())?.generation === 1, moving);
    const first = await follow();
    expect(first).toMatchObject({ kind: "cutover", seq: 1, slot: "floe_cdc", to: { port: w.green.port, dbname: "app" } });
    await waitFor("the writer's status to name green", async () => current.writer.status.sources.blue?.generation === 1, moving);
    expect(current.writer.status.sources.blue).toMatchObject({ server: `127.0.0.1:${w.green.port}/app`, generation: 1 });
    expect(await registry.getSingleMetricAsString("floe_cdc_handoffs_total")).toMatch(/floe_cdc_handoffs_total\{source="blue",kind="cutover"\} 1/);
    await waitFor("green's own writes in Iceberg", async () => (await loadTable(catalog, "items")).summaryProperty("floe.lsn.blue~1") !== undefined, moving);

    // A restart with the same (blue-only) config goes on from green.
    await current.writer.stop();
    await current.done;
    const before = load.acked.size;
    await sleep(300); // writes meanwhile wait in green's slot
    current = await start();
    await waitFor("writes after the restart", async () => load.acked.size > before + 20, moving);

    // At rest on green: Iceberg equals green, the new primary.
    await load.stop();
    await expectMirrorsEqual(catalog, w.green, moving.progress);
    load.start();
    await sleep(300);

    // Rollback: the writer goes back to blue.
    await upgrade().rollback();
    await waitFor("the writer to follow the rollback", async () => (await follow())?.generation === 2, moving);
    await waitFor("the writer's status to name blue", async () => current.writer.status.sources.blue?.generation === 2, moving);
    expect(current.writer.status.sources.blue).toMatchObject({ server: `127.0.0.1:${w.blue.port}/app`, generation: 2 });
    expect(await follow()).toMatchObject({ kind: "rollback", seq: 2, to: { port: w.blue.port, dbname: "app" } });
    await sleep(600);
    await load.stop();
    expect(load.errors).toEqual([]);

    await expectMirrorsEqual(catalog, w.blue, moving.progress);
    // Exactly once, across both switches and the restart.
    await expectEachCounterValueOnce(catalog, load, moving.progress);

    // Cleanup drops the writer's slot on green (the writer has moved past the handoff there).
    await upgrade().cleanup();
    expect(await w.green.sql("SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'floe_cdc'", [], "app")).toEqual([]);
    expect(await w.blue.sql("SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'floe_cdc'", [], "app")).toEqual([{ slot_name: "floe_cdc" }]);
    expect(loadState(statePath)!.handoffSent).toMatchObject({ seq: 2, on: "green" });
  });
});
