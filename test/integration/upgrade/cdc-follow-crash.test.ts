/**
 * The CDC handoff under kill -9: `floe cdc run` (configured for blue only) is killed with SIGKILL
 * and restarted, over and over, while clients write through pgBouncer and the orchestrator does a
 * 16 -> 17 cutover and then a rollback. Each kill lands only after the killed writer has committed
 * a snapshot since it started (a kill before that only tests start-up, and on a loaded machine a
 * fixed kill interval shorter than start-up never lets a writer get anywhere), at a random moment
 * up to 0.7 s after. Kills land before each handoff and after it (counted); at the end the mirror
 * tables equal blue and the `counters` changelog holds every counter value exactly once.
 */
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../../runtime/core/log";
import { SqlCatalog } from "../../../runtime/iceberg";
import { tableSnapshots, waitForCommitSince } from "../../helpers/cdc";
import { directoryBytes, GiveUp, prefixed, processCpuMs, sleep, waitUntil, walProgress } from "../../helpers/wait";
import { expectEachCounterValueOnce, expectMirrorsEqual, followConfig, followRecord, followUpgrade, loadTable } from "./follow";
import { startWorld, Workload, World } from "./workload";

const CLI = join(__dirname, "../../../dist/runtime/cli.js");
const quiet = createLogger({}, (l) => process.env.FLOE_TEST_LOG && process.stderr.write(l + "\n"));
const SPREAD_MS = 700;

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
    // The first run makes the slot and the tables; after that, kill -9 after each writer's first commit.
    run();
    const lake = await w.blue.connect("lake");
    /** The writer's work: its slot on either server, files written, the current writer's CPU time, commits the kill loop saw. */
    let commitsSeen = 0;
    const progress = async () => ({
      ...prefixed("blue", await walProgress(w.blue, "floe_cdc")),
      ...prefixed("green", await walProgress(w.green, "floe_cdc")),
      warehouseBytes: directoryBytes(warehouse),
      [`writerCpuMs.${child?.pid}`]: processCpuMs(child?.pid),
      commitsSeen,
    });
    // (A copy redone after a kill would show counters as snapshot rows rather than updates: wait for it to finish.)
    await waitUntil(
      "the initial copy",
      async () => {
        const copied = await Promise.all(
          ["items", "tickets", "counters"].map((t) =>
            loadTable(catalog, t).then(
              (x) => x.summaryProperty("floe.lsn.blue") !== undefined,
              () => false,
            ),
          ),
        );
        return copied.every(Boolean);
      },
      { progress },
    );
    load.start();
    let phase = "before the cutover";
    const killsIn = new Map<string, number>();
    let chaosError: Error | undefined;
    const chaos = (async () => {
      while (killing) {
        const c = child!;
        const before = await tableSnapshots(catalog, lake);
        // this writer may have committed before `before` was read: the next commit counts
        const commits = await waitForCommitSince(`writer ${kills + 1}`, c, before, catalog, lake, progress, () => !killing);
        if (!killing) break;
        commitsSeen += commits;
        await sleep(Math.random() * SPREAD_MS);
        c.kill("SIGKILL");
        await exited(c);
        kills++;
        killsIn.set(phase, (killsIn.get(phase) ?? 0) + 1);
        if (killing) run();
      }
    })().catch((e) => {
      chaosError = e;
    });
    const chaosOk = () => {
      if (chaosError) throw new GiveUp(`the kill loop failed: ${chaosError.message}`);
    };
    /** Waits until `n` more kills have landed (each after a commit of the killed writer). */
    const moreKills = async (n: number, what: string) => {
      const target = kills + n;
      await waitUntil(`${n} kills ${what}`, () => (chaosOk(), kills >= target), { progress });
    };

    const statePath = join(w.dir, "state.json");
    await moreKills(2, phase);
    phase = "during the cutover, until the writer followed";
    await followUpgrade(w, statePath, quiet).run();
    await waitUntil("the writer to follow the cutover", async () => (chaosOk(), (await followRecord(catalog))?.generation === 1), { progress });
    phase = "after the cutover";
    await moreKills(2, phase);
    phase = "during the rollback, until the writer followed";
    await followUpgrade(w, statePath, quiet).rollback();
    await waitUntil("the writer to follow the rollback", async () => (chaosOk(), (await followRecord(catalog))?.generation === 2), { progress });
    phase = "after the rollback";
    await moreKills(2, phase);
    killing = false;
    await chaos;
    await load.stop();
    expect(chaosError).toBeUndefined();
    expect(load.errors).toEqual([]);
    console.log(
      `cdc-follow-crash: ${kills} kills, each after a commit of the killed writer (${commitsSeen} table commits seen); by phase ${JSON.stringify(Object.fromEntries(killsIn))}`,
    );
    for (const p of ["before the cutover", "after the cutover", "after the rollback"]) expect(killsIn.get(p) ?? 0).toBeGreaterThanOrEqual(2);
    if (child!.exitCode !== null || child!.signalCode !== null) run();

    await expectMirrorsEqual(catalog, w.blue, progress);
    await expectEachCounterValueOnce(catalog, load, progress);
    await lake.end();
    // Whatever moment the kills hit, the slot left behind on green is past the handoff: cleanup drops it.
    await followUpgrade(w, statePath, quiet).cleanup();
    expect(await w.green.sql("SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'floe_cdc'", [], "app")).toEqual([]);
    child!.kill("SIGTERM");
    await exited(child!);
  });
});
