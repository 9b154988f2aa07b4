/**
 * End to end: a real `pulumi up` of examples/local from nothing (a fresh file backend and data
 * directory), rows written through pgBouncer read back from Iceberg with chdb (`floe query`), a
 * no-op `pulumi up`, a refresh that notices a killed process, a config change applied in place,
 * and a `pulumi destroy` that leaves no process, port or file behind.
 *
 * Needs the Pulumi CLI (scripts/install-pulumi.sh: on PATH, or built once from Go modules and
 * cached) and the compiled build (npm run build). Timings are printed for the report.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Client } from "pg";

const ROOT = resolve(__dirname, "..", "..");
const PROGRAM = join(ROOT, "examples", "local");
const CLI = join(ROOT, "dist", "runtime", "cli.js");
const STACK = `e2e-${process.pid}`;

jest.setTimeout(15 * 60_000);

let tmp = "";
let env: NodeJS.ProcessEnv = {};
const timings: Record<string, number> = {};

function pulumi(args: string[], opts: { allowFail?: boolean } = {}): { code: number; out: string } {
  const r = spawnSync("pulumi", [...args, "--stack", STACK, "--non-interactive"], { cwd: PROGRAM, env, encoding: "utf8", maxBuffer: 64 << 20 });
  const out = (r.stdout ?? "") + (r.stderr ?? "");
  if (r.status !== 0 && !opts.allowFail) throw new Error(`pulumi ${args.join(" ")} exited with ${r.status}:\n${out.slice(-6000)}`);
  return { code: r.status ?? -1, out };
}

function timed<T>(label: string, fn: () => T): T {
  const t0 = Date.now();
  try {
    return fn();
  } finally {
    timings[label] = (Date.now() - t0) / 1000;
  }
}

type Outputs = Record<string, string>;
const outputs = (): Outputs => JSON.parse(pulumi(["stack", "output", "--json", "--show-secrets"]).out.replace(/^[^{]*/, ""));

function query(catalog: string, sql: string): Record<string, unknown>[] {
  const out = execFileSync(process.execPath, [CLI, "query", "--catalog", catalog, "--json", sql], { encoding: "utf8" });
  return JSON.parse(out);
}

async function pollUntil<T>(what: string, fn: () => T, ok: (v: T) => boolean, boundMs = 30_000): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() - t0 < boundMs) {
    try {
      last = fn();
      if (ok(last)) return { value: last, ms: Date.now() - t0 };
    } catch (e) {
      lastErr = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not seen within ${boundMs} ms; last value ${JSON.stringify(last)}; last error ${(lastErr as Error)?.message ?? "none"}`);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const portFree = (port: number) =>
  new Promise<boolean>((res) => {
    const s = createServer();
    s.once("error", () => res(false));
    s.listen(port, "127.0.0.1", () => s.close(() => res(true)));
  });

/** pids and ports of every local resource, from the stack state. */
function processes(): { pids: number[]; ports: number[] } {
  const state = JSON.parse(pulumi(["stack", "export", "--show-secrets"]).out.replace(/^[^{]*/, ""));
  const pids: number[] = [];
  const ports: number[] = [];
  for (const r of state.deployment.resources ?? []) {
    const o = r.outputs ?? {};
    if (typeof o.pid === "number" && o.pid > 0) pids.push(o.pid);
    for (const k of ["port", "httpPort"]) if (typeof o[k] === "number" && o[k] > 0) ports.push(o[k]);
  }
  return { pids, ports };
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

beforeAll(() => {
  if (!existsSync(CLI) || !existsSync(join(ROOT, "dist", "components", "local", "platform.js"))) {
    throw new Error("the build is missing: run npm run build (scripts/setup.sh does)");
  }
  const bin = timed("install-pulumi.sh", () => execFileSync("bash", [join(ROOT, "scripts", "install-pulumi.sh")], { encoding: "utf8" }).trim());
  tmp = mkdtempSync(join(tmpdir(), "floe-e2e-"));
  chmodSync(tmp, 0o755); // the server user must reach the data directory inside
  const base = execFileSync("bash", ["-c", `source ${join(ROOT, "scripts", "pulumi-env.sh")} && env -0`], { encoding: "utf8" });
  const fromScript = Object.fromEntries(base.split("\0").filter(Boolean).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  env = { ...fromScript, PATH: `${bin}:${process.env.PATH}`, PULUMI_BACKEND_URL: `file://${join(tmp, "state")}`, PULUMI_HOME: join(tmp, "pulumi-home") };
  execFileSync("mkdir", ["-p", join(tmp, "state")]);
  pulumi(["stack", "init", "--secrets-provider", "passphrase"].concat([]), {});
  pulumi(["config", "set", "dataDir", join(tmp, "data")]);
  pulumi(["config", "set", "shards", "2"]); // two Postgres processes, two CDC sources, one Iceberg table
});

afterAll(() => {
  if (!tmp) return;
  // Whatever happened, leave nothing running: destroy, then drop the stack and its config file.
  pulumi(["destroy", "--yes", "--skip-preview"], { allowFail: true });
  pulumi(["stack", "rm", "--yes", "--force"], { allowFail: true });
  rmSync(join(PROGRAM, `Pulumi.${STACK}.yaml`), { force: true });
  rmSync(tmp, { recursive: true, force: true });
  process.stdout.write(`e2e timings (s): ${JSON.stringify(timings)}\n`);
});

describe("examples/local through a real pulumi up", () => {
  let out: Outputs;

  it("comes up from nothing", () => {
    const r = timed("pulumi up from nothing", () => pulumi(["up", "--yes", "--skip-preview"]));
    expect(r.out).toMatch(/\+\s+\d+ created/);
    out = outputs();
    expect(out.poolerEndpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(out.warehouseLocation).toBe(`file://${join(tmp, "data", "warehouse")}`);
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
    );
    timings["rows visible in Iceberg"] = seen.ms / 1000;
    expect(seen.ms).toBeLessThan(15_000);
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
    await pollUntil("pgbouncer gone", () => alive(pooler.outputs.pid), (a) => !a, 5000);
    const refresh = pulumi(["refresh", "--yes", "--skip-preview"]);
    expect(refresh.out).toMatch(/1 updated|~ 1|updated/);
    const up = pulumi(["up", "--yes", "--skip-preview"]);
    expect(up.out).toMatch(/1 updated/);
    const n = await withClient(out.connectionString, async (c) => (await c.query("SELECT count(*)::int AS n FROM orders")).rows[0].n);
    expect(n).toBe(2); // shard 0's rows
  });

  it("applies a config change in place: the writer follows an explicit table list", async () => {
    const pgPid = JSON.parse(pulumi(["stack", "export"]).out.replace(/^[^{]*/, "")).deployment.resources.find((r: any) => r.type.endsWith("LocalPostgresServer")).outputs.pid;
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
      (rows) => JSON.stringify(rows) === JSON.stringify([{ id: 10, name: "ada" }, { id: 11, name: "grace" }]),
    );
    await pollUntil("order 4", () => query(out.catalogUri, "SELECT count() AS n FROM floe.orders"), (rows) => Number(rows[0]?.n) === 4);
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
    expect(existsSync(join(tmp, "data"))).toBe(false);
    expect(readdirSync(tmp).sort()).toEqual(["pulumi-home", "state"].filter((d) => existsSync(join(tmp, d))));
  });
});
