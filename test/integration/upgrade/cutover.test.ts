/**
 * Postgres 16 -> 17 behind a real pgBouncer, clients writing through the pooler the whole time:
 * `floe upgrade run` (through the CLI), then `floe upgrade rollback`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { schemaSnapshot } from "../../../runtime/upgrade/catalog";
import { databaseEntry } from "../../../runtime/upgrade/plan";
import { main } from "../../../runtime/upgrade/cli";
import { contentOf, startWorld, waitFor, Workload, World } from "./workload";

describe("floe upgrade run and rollback, 16 -> 17 behind pgBouncer under writes", () => {
  let w: World;
  let load: Workload;
  let args: string[];
  let statePath: string;

  beforeAll(async () => {
    w = await startWorld({ preloadRows: 5000, clients: 4 });
    statePath = join(w.dir, "state.json");
    args = [
      "--blue",
      w.blue.url("app"),
      "--green",
      w.green.url("app"),
      "--pooler-admin",
      w.bouncer.adminUrl,
      "--pooler-ini",
      w.bouncer.iniPath,
      "--state",
      statePath,
      // generous on a shared 2-core machine: this test is about correctness; abort.test.ts forces the budget to fail
      "--budget-ms",
      "5000",
      "--json",
    ];
    load = new Workload(w.bouncer.url("app"), 4);
  });
  afterAll(async () => {
    await load?.stop();
    await w?.stop();
  });

  /** Run the CLI, returning its exit code and what it printed on stdout. */
  const cli = async (argv: string[]): Promise<{ code: number; stdout: string }> => {
    const write = jest.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      const code = await main(argv);
      return { code, stdout: write.mock.calls.map((c) => String(c[0])).join("") };
    } finally {
      write.mockRestore();
    }
  };

  const poolerPort = async () => (await w.bouncer.control.target("app")).port;
  const serverMajorThroughPooler = async () => {
    const { Client } = await import("pg");
    const c = new Client({ connectionString: w.bouncer.url("app") });
    await c.connect();
    try {
      return Math.floor(Number((await c.query("SHOW server_version_num")).rows[0].server_version_num) / 10000);
    } finally {
      await c.end();
    }
  };

  it("plan reports a clean preflight and the DDL for green", async () => {
    const { code, stdout } = await cli(["plan", ...args]);
    expect(code).toBe(0);
    const printed = JSON.parse(stdout);
    expect(printed.ok).toBe(true);
    expect(printed.blueMajor).toBe(16);
    expect(printed.greenMajor).toBe(17);
    expect(printed.findings.filter((f: any) => f.severity === "error")).toEqual([]);
    expect(printed.ddl.some((s: string) => s.startsWith('CREATE TYPE "public"."mood" AS ENUM'))).toBe(true);
  });

  it("cuts over to green with zero failed transactions and nothing lost or duplicated", async () => {
    load.start();
    await new Promise((r) => setTimeout(r, 300));
    const { code, stdout } = await cli(["run", ...args]);
    expect({ code, stdout }).toEqual({ code: 0, stdout: expect.stringContaining('"ok": true') });
    await new Promise((r) => setTimeout(r, 500)); // writes land on green now
    await load.stop();

    expect(load.errors).toEqual([]);
    expect(await poolerPort()).toBe(w.green.port);
    // Clients keep logging in as themselves: no user= forced in the entry (the orchestrator's URL is a superuser's).
    expect(databaseEntry(readFileSync(w.bouncer.iniPath, "utf8"), "app")).not.toMatch(/user=/);
    expect(await serverMajorThroughPooler()).toBe(17);
    const state = JSON.parse(readFileSync(statePath, "utf8"));
    expect(state.phase).toBe("upgraded");
    expect(state.lastCutover.pausedMs).toBeGreaterThan(0);

    const acked = [...load.acked].sort((a, b) => Number(a) - Number(b));
    const green = await contentOf(w.green);
    expect(green.ids).toEqual(acked); // nothing lost, nothing extra (ids are the primary key: no duplicate)
    expect(green.dupSeq).toBe(0);
    expect(green.tickets).toBe(load.ticketsAcked.size);
    for (const [client, n] of load.counters) expect(green.counters.get(client)).toBe(n);
    // green's catalog describes the same schema as blue's (types, defaults, identity, constraints, indexes, sequences)
    const described = async (pg: typeof w.blue) => {
      const c = await pg.connect("app");
      try {
        const snap = await schemaSnapshot(c);
        const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
        return {
          ...snap,
          sequences: [...snap.sequences].sort(byName),
          tables: snap.tables
            .map((t) => ({ ...t, estimatedRows: 0, constraints: [...t.constraints].sort(byName), indexes: [...t.indexes].sort() }))
            .sort(byName),
        };
      } finally {
        await c.end();
      }
    };
    expect(await described(w.green)).toEqual(await described(w.blue));
    // preloaded rows made it too
    const [{ n: pre }] = await w.green.sql("SELECT count(*)::int AS n FROM items WHERE client = -1", [], "app");
    expect(pre).toBe(5000);

    // sequences on green are past every value blue handed out (writes after cutover did not collide)
    const [seq] = await w.green.sql(
      "SELECT (SELECT last_value FROM pg_sequences WHERE sequencename = 'items_id_seq') >= (SELECT max(id) FROM items) AS items_ok, (SELECT last_value FROM pg_sequences WHERE sequencename = 'tickets_seq') >= (SELECT max(id) FROM tickets) AS tickets_ok",
      [],
      "app",
    );
    expect(seq).toEqual({ items_ok: true, tickets_ok: true });
    const postCutover = (await w.green.sql("SELECT count(*)::int AS n FROM items WHERE client >= 0 AND created > now() - interval '1 hour'", [], "app"))[0].n;
    expect(postCutover).toBe(acked.length);

    // reverse replication: blue receives what was written on green after the cutover
    await waitFor("reverse replication to blue", async () => (await contentOf(w.blue)).ids.length === acked.length);
    expect((await contentOf(w.blue)).ids).toEqual(acked);
  });

  it("status reports green as primary", async () => {
    const { code, stdout } = await cli(["status", ...args]);
    expect(code).toBe(0);
    const st = JSON.parse(stdout);
    expect(st.state.phase).toBe("upgraded");
    expect(st.pooler).toEqual({ target: expect.objectContaining({ port: w.green.port }), paused: false });
    expect(st.progress.tables).toBe(3);
  });

  it("rolls back to blue with zero failed transactions", async () => {
    load.start();
    await new Promise((r) => setTimeout(r, 300));
    const { code, stdout } = await cli(["rollback", ...args]);
    expect({ code, stdout }).toEqual({ code: 0, stdout: expect.stringContaining('"ok": true') });
    await new Promise((r) => setTimeout(r, 300));
    await load.stop();

    expect(load.errors).toEqual([]);
    expect(await poolerPort()).toBe(w.blue.port);
    expect(await serverMajorThroughPooler()).toBe(16);
    const acked = [...load.acked].sort((a, b) => Number(a) - Number(b));
    const blue = await contentOf(w.blue);
    expect(blue.ids).toEqual(acked);
    expect(blue.tickets).toBe(load.ticketsAcked.size);
    for (const [client, n] of load.counters) expect(blue.counters.get(client)).toBe(n);
    // rows written after the rollback are on blue only: the pooler really moved back
    const green = await contentOf(w.green);
    expect(green.ids.length).toBeLessThan(acked.length);
    expect(JSON.parse(readFileSync(statePath, "utf8")).phase).toBe("rolled-back");
  });

  it("cleanup drops every replication object on both sides", async () => {
    expect((await cli(["cleanup", ...args])).code).toBe(0);
    for (const pg of [w.blue, w.green]) {
      expect(await pg.sql("SELECT subname FROM pg_subscription", [], "app")).toEqual([]);
      expect(await pg.sql("SELECT pubname FROM pg_publication", [], "app")).toEqual([]);
      expect(await pg.sql("SELECT slot_name FROM pg_replication_slots", [], "app")).toEqual([]);
    }
  });
});
