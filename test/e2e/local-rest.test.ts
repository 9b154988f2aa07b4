/**
 * End to end: examples/local with `restCatalog true` through a real `pulumi up`: the Iceberg REST
 * catalog server runs next to the SQL catalog, the CDC writer commits through it, pyiceberg and
 * DuckDB attached to it with the stack's credentials read what was written through pgBouncer (and
 * are refused without them), a JVM killed with -9 comes back on the same port, and `pulumi
 * destroy` leaves no process, port or file behind.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { processCpuMs } from "../helpers/wait";
import { alive, E2eStack, pollUntil, portFree, ROOT, slotProgress, withClient } from "./stack";

let st: E2eStack;
type Row = [number, string | null, string | null, number | null];

beforeAll(() => {
  st = new E2eStack(`e2e-rest-${process.pid}`);
  st.pulumi(["config", "set", "restCatalog", "true"]);
});

afterAll(() => {
  if (!st) return;
  st.dispose();
  process.stdout.write(`e2e rest timings (s): ${JSON.stringify(st.timings)}\n`);
});

/** pyiceberg and DuckDB through the REST catalog (test/integration/local/rest-attach.py, the engine tier's venv). */
function attach(uri: string, credential: string): { pyiceberg: Row[]; duckdb: Row[]; pyicebergWithoutCredential: string; duckdbWithoutCredential: string } {
  const engines = execFileSync("bash", [join(ROOT, "scripts", "install-engines.sh")], { encoding: "utf8" })
    .trim()
    .split("\n")
    .pop()!;
  const out = execFileSync(
    join(engines, "venv", "bin", "python"),
    [join(ROOT, "test", "integration", "local", "rest-attach.py"), uri, credential, "floe", "accounts"],
    { encoding: "utf8", maxBuffer: 16 << 20 },
  );
  return JSON.parse(out.trim().split("\n").pop()!);
}

describe("examples/local with the REST catalog", () => {
  let out: Record<string, string>;

  it("comes up with the REST server, and the writer commits through it", () => {
    const r = st.timed("pulumi up from nothing (restCatalog)", () => st.pulumi(["up", "--yes", "--skip-preview"]));
    expect(r.out).toMatch(/\+\s+\d+ created/);
    out = st.outputs();
    expect(out.restCatalogUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(out.restCatalogCredential).toMatch(/^floe:[A-Za-z0-9_-]{32}$/);
    const writerConfig = JSON.parse(readFileSync(join(st.dataDir, "cdc", "cdc.json"), "utf8"));
    expect(writerConfig.catalog).toEqual({ type: "rest", uri: out.restCatalogUri, credential: out.restCatalogCredential });
  });

  it("rows written through pgBouncer read the same in pyiceberg and DuckDB attached to the REST catalog; refused without credentials", async () => {
    await withClient(out.connectionString, async (c) => {
      await c.query(`CREATE TABLE accounts (id bigint PRIMARY KEY, note text, amount numeric(12,2), "at" timestamptz)`);
      await c.query(
        `INSERT INTO accounts SELECT g, 'row ' || g, g * 2.5, timestamptz '2026-06-01 12:00:00.5+00' + g * interval '1 day' FROM generate_series(1, 10) g`,
      );
      await c.query(`UPDATE accounts SET note = 'changed' WHERE id = 2`);
      await c.query(`DELETE FROM accounts WHERE id = 3`);
    });
    const want = await withClient(out.connectionString, async (c) =>
      (await c.query(`SELECT id::text, note, amount::text, (extract(epoch FROM "at") * 1000000)::bigint::text AS micros FROM accounts`)).rows
        .map((r): Row => [Number(r.id), r.note, r.amount, Number(r.micros)])
        .sort((a, b) => a[0] - b[0]),
    );
    // the writer commits about every 500 ms: wait until pyiceberg sees the last change (bounded)
    const seen = await st.timed("first read equal through REST", () =>
      pollUntil(
        `accounts through the REST catalog equal to Postgres (${JSON.stringify(want)})`,
        () => attach(out.restCatalogUri, out.restCatalogCredential),
        (a) => JSON.stringify(a.pyiceberg) === JSON.stringify(want),
        { progress: slotProgress(out.connectionString) },
      ),
    );
    expect(seen.value.duckdb).toEqual(want);
    expect(seen.value.pyicebergWithoutCredential).toMatch(/UnauthorizedError|NotAuthorized/);
    expect(seen.value.duckdbWithoutCredential).toMatch(/401|Unauthorized/);
  });

  it("a JVM killed with -9 is started again by its supervisor on the same port", async () => {
    const jvm = Number(readFileSync(join(st.dataDir, "catalog", "server.pid"), "utf8"));
    expect(alive(jvm)).toBe(true);
    process.kill(jvm, "SIGKILL");
    await pollUntil(
      "a new JVM answering on the same port",
      async () => {
        const pid = Number(readFileSync(join(st.dataDir, "catalog", "server.pid"), "utf8"));
        const res = pid !== jvm && alive(pid) ? await fetch(`${out.restCatalogUri}/v1/config`) : undefined;
        return res?.status;
      },
      (status) => status === 401, // up again, and still asking for a token
      { progress: async () => ({ jvmCpuMs: processCpuMs(Number(readFileSync(join(st.dataDir, "catalog", "server.pid"), "utf8"))) }) }, // a JVM starting
    );
    await withClient(out.connectionString, (c) => c.query(`INSERT INTO accounts VALUES (11, 'after the kill', 1, now())`));
    await pollUntil(
      "row 11 through the REST catalog",
      () => attach(out.restCatalogUri, out.restCatalogCredential).pyiceberg.map((r) => r[0]),
      (ids) => ids.includes(11),
      { progress: slotProgress(out.connectionString) },
    );
  });

  it("destroys everything: no process, port or file left", async () => {
    const { pids, ports } = st.processes();
    const server = st.resources().find((r) => String(r.type).endsWith("LocalRestCatalogServer"));
    expect(server?.outputs?.pid).toBeGreaterThan(0);
    const jvm = Number(readFileSync(join(st.dataDir, "catalog", "server.pid"), "utf8"));
    const r = st.timed("pulumi destroy", () => st.pulumi(["destroy", "--yes", "--skip-preview"]));
    expect(r.out).toMatch(/\d+ deleted/);
    for (const pid of [...pids, jvm]) expect({ pid, alive: alive(pid) }).toEqual({ pid, alive: false });
    for (const port of ports) expect({ port, free: await portFree(port) }).toEqual({ port, free: true });
    expect(existsSync(st.dataDir)).toBe(false);
  });
});
