/**
 * The CDC handoff under kill -9: `floe cdc run` (configured for blue only) is killed with SIGKILL
 * at random moments and restarted, over and over, while clients write through pgBouncer and the
 * orchestrator does a 16 -> 17 cutover and then a rollback. Kills land before, during and after
 * each handoff. At the end the mirror tables equal blue and the `counters` changelog holds every
 * counter value exactly once.
 */
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../../runtime/core/log";
import { SqlCatalog } from "../../../runtime/iceberg";
import { expectEachCounterValueOnce, expectMirrorsEqual, followConfig, followRecord, followUpgrade, loadTable } from "./follow";
import { startWorld, waitFor, Workload, World } from "./workload";

jest.setTimeout(300_000);
const CLI = join(__dirname, "../../../dist/runtime/cli.js");
const quiet = createLogger({}, (l) => process.env.FLOE_TEST_LOG && process.stderr.write(l + "\n"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("CDC handoff under kill -9", () => {
  let w: World;
  let load: Workload;
  let warehouse: string;
  let catalog: SqlCatalog;
  let child: ChildProcess | undefined;
  let killing = true;
  let kills = 0;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm test does)`);
    w = await startWorld({ preloadRows: 1000, clients: 3 });
    await w.blue.sql("CREATE DATABASE lake");
    warehouse = mkdtempSync(join(tmpdir(), "floe-follow-crash-"));
    catalog = await SqlCatalog.connect({ name: "floe", url: w.blue.url("lake"), warehouse: `file://${warehouse}` });
    load = new Workload(w.bouncer.url("app"), 3);
  });
  afterAll(async () => {
    killing = false;
    child?.kill("SIGKILL");
    await load?.stop();
    await catalog?.close();
    await w?.stop();
    if (warehouse) rmSync(warehouse, { recursive: true, force: true });
  });

  it("loses and repeats nothing across a cutover and a rollback with the writer killed again and again", async () => {
    const file = join(warehouse, "cdc.json");
    writeFileSync(file, JSON.stringify(followConfig(w, warehouse)));
    const run = () => {
      child = spawn(process.execPath, [CLI, "cdc", "run", "--config", file], { stdio: ["ignore", "ignore", process.env.FLOE_TEST_LOG ? "inherit" : "ignore"] });
      return child;
    };
    const exited = (c: ChildProcess) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once("exit", r)));
    // The first run makes the slot and the tables; after that, kill -9 at random.
    run();
    // (A copy redone after a kill would show counters as snapshot rows rather than updates: wait for it to finish.)
    await waitFor(
      "the initial copy",
      async () => {
        const copied = await Promise.all(["items", "tickets", "counters"].map((t) => loadTable(catalog, t).then((x) => x.summaryProperty("floe.lsn.blue") !== undefined, () => false)));
        return copied.every(Boolean);
      },
      60_000,
    );
    load.start();
    const chaos = (async () => {
      while (killing) {
        await sleep(200 + Math.random() * 700);
        if (!killing) break;
        const c = child!;
        c.kill("SIGKILL");
        await exited(c);
        kills++;
        if (killing) run();
      }
    })();

    const statePath = join(w.dir, "state.json");
    await sleep(1000);
    await followUpgrade(w, statePath, quiet).run();
    await waitFor("the writer to follow the cutover", async () => (await followRecord(catalog))?.generation === 1, 60_000);
    await sleep(1500);
    await followUpgrade(w, statePath, quiet).rollback();
    await waitFor("the writer to follow the rollback", async () => (await followRecord(catalog))?.generation === 2, 60_000);
    await sleep(1500);
    killing = false;
    await chaos;
    await load.stop();
    expect(load.errors).toEqual([]);
    expect(kills).toBeGreaterThanOrEqual(5);
    if (child!.exitCode !== null || child!.signalCode !== null) run();

    await expectMirrorsEqual(catalog, w.blue);
    await expectEachCounterValueOnce(catalog, load);
    // Whatever moment the kills hit, the slot left behind on green is past the handoff: cleanup drops it.
    await followUpgrade(w, statePath, quiet).cleanup();
    expect(await w.green.sql("SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'floe_cdc'", [], "app")).toEqual([]);
    child!.kill("SIGTERM");
    await exited(child!);
  });
});
