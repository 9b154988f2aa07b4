/**
 * The pause budget and crash recovery, 16 -> 17 behind a real pgBouncer under writes:
 * - green cannot apply blue's final LSN within the budget: the cutover aborts, clients never see an
 *   error, blue stays primary, replication keeps running;
 * - an orchestrator that died with the pooler paused: re-running `run` resumes the pooler first,
 *   restores query_wait_timeout, then finishes the upgrade.
 */
import { join } from "node:path";
import { Client } from "pg";
import { Upgrade, UpgradeAborted } from "../../../runtime/upgrade/orchestrator";
import { loadState, saveState } from "../../../runtime/upgrade/state";
import { contentOf, startWorld, waitFor, Workload, World } from "./workload";

describe("floe upgrade: budget exceeded, then a crashed run re-run", () => {
  let w: World;
  let load: Workload;
  let statePath: string;
  let locker: Client | undefined;

  beforeAll(async () => {
    w = await startWorld({ preloadRows: 2000, clients: 4 });
    statePath = join(w.dir, "state.json");
    load = new Workload(w.bouncer.url("app"), 4);
    load.start();
  });
  afterAll(async () => {
    await locker?.end().catch(() => undefined);
    await load?.stop();
    await w?.stop();
  });

  const upgrade = (extra: Partial<ConstructorParameters<typeof Upgrade>[0]> = {}) =>
    new Upgrade({ blueUrl: w.blue.url("app"), greenUrl: w.green.url("app"), pooler: w.bouncer.control, statePath, ...extra });

  it("aborts when PAUSE cannot drain a long transaction in time; the transaction and the clients go on", async () => {
    // a client holding a server connection in an open transaction (opened just before the pause:
    // earlier, it would hold up the creation of the subscription's slot on blue)
    const long = new Client({ connectionString: w.bouncer.url("app") });
    await long.connect();
    try {
      const up = upgrade({
        pauseTimeoutMs: 300,
        hooks: {
          beforePause: async () => {
            await long.query("BEGIN");
            await long.query("SELECT txid_current()");
          },
        },
      });
      const err = await up.run().catch((e) => e);
      expect(err).toBeInstanceOf(UpgradeAborted);
      expect(err.message).toMatch(/PAUSE app did not complete within 300 ms/);
      await long.query("COMMIT");
    } finally {
      await long.end();
    }
    expect(load.errors).toEqual([]);
    expect((await w.bouncer.control.target("app")).port).toBe(w.blue.port);
    expect(await w.bouncer.control.paused()).toEqual([]);
    expect(loadState(statePath)!.phase).toBe("replicating");
    await expect(w.bouncer.control.resume("app")).resolves.toBeUndefined(); // RESUME is idempotent (recovery relies on it)
  });

  it("aborts when green cannot apply blue's final LSN within the budget; blue stays primary", async () => {
    const up = upgrade({
      budgetMs: 300,
      hooks: {
        // hold a lock on green that blocks the apply worker: green falls behind during the pause
        beforePause: async () => {
          locker = await w.green.connect("app");
          await locker.query("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE");
          await new Promise((r) => setTimeout(r, 100)); // writes keep arriving on blue meanwhile
        },
      },
    });
    const before = load.acked.size;
    const err = await up.run().catch((e) => e);
    expect(err).toBeInstanceOf(UpgradeAborted);
    expect(err.message).toMatch(/budget exceeded: green had not applied blue's final LSN/);
    expect((err as UpgradeAborted).report.ok).toBe(false);
    expect(Number((err as UpgradeAborted).report.lagBytesAtAbort)).toBeGreaterThan(0);

    await new Promise((r) => setTimeout(r, 300));
    expect(load.errors).toEqual([]);
    expect(load.acked.size).toBeGreaterThan(before); // clients went on writing
    expect((await w.bouncer.control.target("app")).port).toBe(w.blue.port);
    expect(await w.bouncer.control.paused()).toEqual([]);
    expect(await w.bouncer.control.getQueryWaitTimeout()).toBe(120);
    const s = loadState(statePath)!;
    expect(s.phase).toBe("replicating");
    expect(s.lastAbort!.reason).toMatch(/budget exceeded/);

    // release green: forward replication is still alive and catches up
    await locker!.query("COMMIT");
    await locker!.end();
    locker = undefined;
    await waitFor("green to catch up after the abort", async () => {
      const [b, g] = await Promise.all([
        w.blue.sql("SELECT count(*)::int AS n FROM items", [], "app"),
        w.green.sql("SELECT count(*)::int AS n FROM items", [], "app"),
      ]);
      return g[0].n >= b[0].n - 200 && g[0].n > 2000;
    });
  });

  it("a run that died with the pooler paused is resumed first, then completes the upgrade", async () => {
    // what a crash right after PAUSE leaves behind
    const s = loadState(statePath)!;
    s.phase = "cutover";
    s.savedQueryWaitTimeout = 120;
    saveState(statePath, s);
    await w.bouncer.control.setQueryWaitTimeout(30);
    await w.bouncer.control.command("PAUSE app");
    expect(await w.bouncer.control.paused()).toEqual(["app"]);
    const stalledAt = load.acked.size;
    await new Promise((r) => setTimeout(r, 200));
    expect(load.acked.size).toBe(stalledAt); // clients are really held by the pause

    const report = await upgrade({ budgetMs: 5000 }).run();
    expect(report!.ok).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    await load.stop();

    expect(load.errors).toEqual([]);
    expect((await w.bouncer.control.target("app")).port).toBe(w.green.port);
    expect(await w.bouncer.control.paused()).toEqual([]);
    expect(await w.bouncer.control.getQueryWaitTimeout()).toBe(120);
    const after = loadState(statePath)!;
    expect(after.phase).toBe("upgraded");
    expect(after.events.map((e) => e.msg)).toContain("recovered: resumed on blue");

    const acked = [...load.acked].sort((a, b) => Number(a) - Number(b));
    const green = await contentOf(w.green);
    expect(green.ids).toEqual(acked);
    expect(green.tickets).toBe(load.ticketsAcked.size);
    for (const [client, n] of load.counters) expect(green.counters.get(client)).toBe(n);
  });
});
