/**
 * End to end: a real `pulumi up` of examples/local from nothing (a fresh file backend and data
 * directory), rows written through pgBouncer read back from Iceberg with chdb (`floe query`), a
 * no-op `pulumi up`, a refresh that notices a killed process, a config change applied in place,
 * and a `pulumi destroy` that leaves no process, port or file behind.
 *
 * Needs the Pulumi CLI (scripts/install-pulumi.sh: on PATH, or built once from Go modules and
 * cached) and the compiled build (npm run build). Timings are printed for the report.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { alive, CLI, E2eStack, pollUntil, portFree, query, slotProgress, withClient } from "./stack";

let st: E2eStack;
type Outputs = Record<string, string>;
const pulumi = (args: string[], opts: { allowFail?: boolean } = {}) => st.pulumi(args, opts);
const timed = <T>(label: string, fn: () => T): T => st.timed(label, fn);
const outputs = (): Outputs => st.outputs();
const processes = () => st.processes();

beforeAll(() => {
  const t0 = Date.now();
  st = new E2eStack(`e2e-${process.pid}`);
  st.timings["install-pulumi.sh and stack init"] = (Date.now() - t0) / 1000;
  pulumi(["config", "set", "shards", "2"]); // two Postgres processes, two CDC sources, one Iceberg table
});

afterAll(() => {
  if (!st) return;
  // Whatever happened, leave nothing running: destroy, then drop the stack and its config file.
  st.dispose();
  process.stdout.write(`e2e timings (s): ${JSON.stringify(st.timings)}\n`);
});

describe("examples/local through a real pulumi up", () => {
  let out: Outputs;

  it("comes up from nothing", () => {
    const r = timed("pulumi up from nothing", () => pulumi(["up", "--yes", "--skip-preview"]));
    expect(r.out).toMatch(/\+\s+\d+ created/);
    out = outputs();
    expect(out.poolerEndpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(out.warehouseLocation).toBe(`file://${join(st.dataDir, "warehouse")}`);
  });

  it("replicates inserts, updates and deletes made through pgBouncer into Iceberg within seconds", async () => {
    await withClient(out.connectionString, async (c) => {
      await c.query("CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL, qty int)");
      await c.query("INSERT INTO orders VALUES (1, 'apple', 3), (2, 'pear', 5), (3, 'plum', 7)");
      await c.query("UPDATE orders SET qty = 50 WHERE id = 2");
      await c.query("DELETE FROM orders WHERE id = 3");
    });
    // The second shard, through its own pooler database: its rows land in the same Iceberg table.
    await withClient(out.connectionString.replace(/\/app$/, "/app_shard1"), async (c) => {
      await c.query("CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL, qty int)");
      await c.query("INSERT INTO orders VALUES (100, 'kiwi', 9)");
    });
    const want = [
      { id: 1, item: "apple", qty: 3 },
      { id: 2, item: "pear", qty: 50 },
      { id: 100, item: "kiwi", qty: 9 },
    ];
    const seen = await pollUntil(
      "orders in Iceberg",
      () => query(out.catalogUri, "SELECT id, item, qty FROM floe.orders ORDER BY id"),
      (rows) => JSON.stringify(rows) === JSON.stringify(want),
      { progress: slotProgress(out.connectionString) },
    );
    st.timings["rows visible in Iceberg"] = seen.ms / 1000;
  });

  it("reports no changes on a second pulumi up", () => {
    const r = timed("no-op pulumi up", () => pulumi(["up", "--yes", "--skip-preview", "--expect-no-changes"]));
    expect(r.out).not.toMatch(/\d+ (created|updated|deleted|replaced)/);
    pulumi(["preview", "--expect-no-changes"]);
  });

  it("notices a killed process on refresh and starts it again on up", async () => {
    const before = JSON.parse(pulumi(["stack", "export"]).out.replace(/^[^{]*/, ""));
    const pooler = before.deployment.resources.find((r: any) => r.type.endsWith("LocalPgBouncer"));
    process.kill(pooler.outputs.pid, "SIGKILL");
    await pollUntil(
      "pgbouncer gone",
      () => alive(pooler.outputs.pid),
      (a) => !a,
    );
    const refresh = pulumi(["refresh", "--yes", "--skip-preview"]);
    expect(refresh.out).toMatch(/1 updated|~ 1|updated/);
    const up = pulumi(["up", "--yes", "--skip-preview"]);
    expect(up.out).toMatch(/1 updated/);
    const n = await withClient(out.connectionString, async (c) => (await c.query("SELECT count(*)::int AS n FROM orders")).rows[0].n);
    expect(n).toBe(2); // shard 0's rows
  });

  it("applies a config change in place: the writer follows an explicit table list", async () => {
    const pgPid = JSON.parse(pulumi(["stack", "export"]).out.replace(/^[^{]*/, "")).deployment.resources.find((r: any) =>
      r.type.endsWith("LocalPostgresServer"),
    ).outputs.pid;
    // Every source must hold every configured table (the writer refuses a list it cannot follow).
    for (const db of ["app", "app_shard1"]) {
      await withClient(out.connectionString.replace(/\/app$/, `/${db}`), (c) => c.query("CREATE TABLE customers (id int PRIMARY KEY, name text)"));
    }
    pulumi(["config", "set", "--path", "tables[0]", "public.orders"]);
    pulumi(["config", "set", "--path", "tables[1]", "public.customers"]);
    const r = timed("pulumi up with an added table", () => pulumi(["up", "--yes", "--skip-preview"]));
    expect(r.out).toMatch(/1 updated/);
    expect(r.out).not.toMatch(/replaced|created|deleted/);
    const after = JSON.parse(pulumi(["stack", "export"]).out.replace(/^[^{]*/, "")).deployment.resources;
    expect(after.find((x: any) => x.type.endsWith("LocalPostgresServer")).outputs.pid).toBe(pgPid); // untouched
    await withClient(out.connectionString, async (c) => {
      await c.query("INSERT INTO customers VALUES (10, 'ada'), (11, 'grace')");
      await c.query("INSERT INTO orders VALUES (4, 'fig', 1)");
      await c.query("CREATE TABLE notes (id int PRIMARY KEY, body text)");
      await c.query("INSERT INTO notes VALUES (1, 'not replicated')");
    });
    await pollUntil(
      "customers in Iceberg",
      () => query(out.catalogUri, "SELECT id, name FROM floe.customers ORDER BY id"),
      (rows) =>
        JSON.stringify(rows) ===
        JSON.stringify([
          { id: 10, name: "ada" },
          { id: 11, name: "grace" },
        ]),
      { progress: slotProgress(out.connectionString) },
    );
    await pollUntil(
      "order 4",
      () => query(out.catalogUri, "SELECT count() AS n FROM floe.orders"),
      (rows) => Number(rows[0]?.n) === 4,
      { progress: slotProgress(out.connectionString) },
    );
    const tables = JSON.parse(execFileSync(process.execPath, [CLI, "query", "--catalog", out.catalogUri, "--tables", "--json"], { encoding: "utf8" }));
    expect(tables.map((t: any) => t.name).sort()).toEqual(["customers", "orders"]);
  });

  it("destroys everything: no process, port or file left", async () => {
    const { pids, ports } = processes();
    expect(pids.length).toBeGreaterThanOrEqual(4); // 2 postgres, pgbouncer, writer
    const r = timed("pulumi destroy", () => pulumi(["destroy", "--yes", "--skip-preview"]));
    expect(r.out).toMatch(/\d+ deleted/);
    for (const pid of pids) expect({ pid, alive: alive(pid) }).toEqual({ pid, alive: false });
    for (const port of ports) expect({ port, free: await portFree(port) }).toEqual({ port, free: true });
    expect(existsSync(st.dataDir)).toBe(false);
    expect(readdirSync(st.tmp).sort()).toEqual(["pulumi-home", "state"].filter((d) => existsSync(join(st.tmp, d))));
  });
});
