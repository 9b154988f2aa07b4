/**
 * How `floe cdc run` ends: a permanent error (a wrong password, a missing database, table or
 * publication, a missing grant, a missing catalog database, a misspelt config key, an unusable warehouse) ends the process
 * with exit 2 and one message naming the problem and the fix; it used to retry forever. A transient
 * one (Postgres down, then back) is retried with backoff, shown on /healthz and in
 * floe_cdc_errors_total, and the writer carries on where it was.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCluster, stopCluster } from "../../../runtime/local/postgres";
import { freePort } from "../../../runtime/local/process";
import { healthz, icebergLines, metric, runToExit, startWriterProcess, WriterProcess } from "../../helpers/cdc-cli";
import { lines, readPostgres } from "../../helpers/compare";
import { startPostgres, TestPostgres } from "../../helpers/postgres";
import { waitUntil, walProgress } from "../../helpers/wait";

jest.setTimeout(240_000);

describe("floe cdc run: permanent errors exit 2 with the fix, transient ones are retried", () => {
  let pg: TestPostgres;
  let dir: string;
  const url = (user: string, password: string, db = "app") => `postgres://${user}:${password}@127.0.0.1:${pg.port}/${db}`;
  const config = (over: Record<string, unknown> = {}, source: Record<string, unknown> = {}) => ({
    sources: [{ name: "pg", connectionString: url("floe_cdc", "right"), publication: "pub_t", ...source }],
    catalog: { type: "sql", uri: pg.url("lake") },
    warehouse: `file://${join(dir, "warehouse")}`,
    commit: { intervalMs: 100 },
    http: { port: 0 },
    tables: [{ source: "public.t" }],
    ...over,
  });

  beforeAll(async () => {
    pg = await startPostgres({ major: 17, password: "admin-pw" });
    dir = mkdtempSync(join(tmpdir(), "floe-cdc-errors-"));
    await pg.sql("CREATE DATABASE app");
    await pg.sql("CREATE DATABASE lake");
    await pg.sql(
      `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 20) g;
       CREATE TABLE u (id int PRIMARY KEY);
       CREATE TABLE other (id int PRIMARY KEY);
       CREATE ROLE floe_cdc LOGIN REPLICATION PASSWORD 'right';
       CREATE ROLE norepl LOGIN PASSWORD 'right';
       GRANT SELECT ON t, other TO floe_cdc; GRANT SELECT ON t TO norepl;
       CREATE PUBLICATION pub_t FOR TABLE t;
       CREATE PUBLICATION pub_u FOR TABLE u;`,
      [],
      "app",
    );
  });
  afterAll(async () => {
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const permanent = async (over: Record<string, unknown>, source: Record<string, unknown>, expected: RegExp) => {
    const r = await runToExit(config(over, source), dir);
    expect({ code: r.code, message: r.message }).toEqual({ code: 2, message: expect.stringMatching(expected) });
    expect(r.message.split("\n")).toHaveLength(1); // one message
    expect(r.stderr).not.toMatch(/writer fault, restarting/); // never retried
  };

  it("a wrong password", async () => {
    await permanent(
      {},
      { connectionString: url("floe_cdc", "wrong") },
      new RegExp(
        `^floe cdc run: source "pg": password authentication failed for user "floe_cdc" at 127.0.0.1:${pg.port}: fix the password in the connectionString of source "pg"`,
      ),
    );
  });

  it("a missing database", async () => {
    await permanent(
      {},
      { connectionString: url("floe_cdc", "right", "nope") },
      /source "pg": database "nope" does not exist at 127\.0\.0\.1:\d+: create it or fix the database name/,
    );
  });

  it("a role that does not exist", async () => {
    await permanent({}, { connectionString: url("nobody", "x") }, /source "pg": password authentication failed for user "nobody"/);
  });

  it("a configured table that does not exist", async () => {
    // As a superuser the writer may add tables to its publication: it tries, and the table is not there.
    await permanent(
      { tables: [{ source: "public.t" }, { source: "public.nope" }] },
      { connectionString: pg.url("app") },
      /source "pg": relation "public\.nope" does not exist: create the table, or remove it from the config's tables/,
    );
  });

  it("a configured table missing from the publication, which the writer may not change", async () => {
    await permanent(
      { tables: [{ source: "public.t" }, { source: "public.other" }] },
      {},
      /source "pg": tables public\.other are configured but not in publication pub_t, and adding them failed \(must be owner of publication pub_t\); as the tables' owner run: ALTER PUBLICATION pub_t ADD TABLE "public"\."other"/,
    );
  });

  it("a missing publication the writer may not create", async () => {
    await permanent(
      {},
      { publication: "nopub" },
      /source "pg": publication nopub does not exist and cannot be created \(permission denied for database app\); create it as the tables' owner: CREATE PUBLICATION nopub FOR TABLE "public"\."t"/,
    );
  });

  it("a role without REPLICATION", async () => {
    await permanent(
      {},
      { connectionString: url("norepl", "right") },
      /source "pg": permission denied to start WAL sender.*: give the role the REPLICATION attribute: ALTER ROLE norepl REPLICATION/,
    );
  });

  it("a table the role may not read (the initial copy)", async () => {
    await permanent(
      { tables: [{ source: "public.u" }] },
      { publication: "pub_u" },
      /source "pg": permission denied for table u: GRANT SELECT ON u TO floe_cdc/,
    );
  });

  it("a missing catalog database", async () => {
    await permanent(
      { catalog: { type: "sql", uri: pg.url("nolake") } },
      {},
      new RegExp(
        `the SQL catalog's database "nolake" does not exist at 127\\.0\\.0\\.1:${pg.port}: create it \\(CREATE DATABASE nolake\\) or fix catalog\\.uri`,
      ),
    );
  });

  it("a misspelt config key, before anything is created", async () => {
    const raw: Record<string, unknown> = config({}, { connectionString: pg.url("app"), publication: "typo_pub" });
    raw.tabels = raw.tables;
    delete raw.tables;
    const r = await runToExit(raw, dir);
    expect(r.code).toBe(2);
    expect(r.message).toMatch(/tabels: unknown key "tabels"; did you mean "tables"\?/);
    expect(await pg.sql("SELECT pubname FROM pg_publication WHERE pubname = 'typo_pub'", [], "app")).toEqual([]);
  });

  it.each([
    ["under /proc", () => "/proc/floe-warehouse", /cannot create \/proc\/floe-warehouse \((ENOENT|EACCES|EROFS)\)/],
    [
      "with a file in the way",
      () => (writeFileSync(join(dir, "in-the-way"), "x"), join(dir, "in-the-way", "warehouse")),
      /cannot create .*in-the-way\/warehouse \(ENOTDIR\)/,
    ],
  ] as [string, () => string, RegExp][])("a warehouse it cannot use: %s, before anything is created", async (_, path, expected) => {
    const p = path();
    // Everything else is right: without the check, a storage error retried for ever (or a hang).
    await permanent({ warehouse: `file://${p}` }, { name: "wh" }, expected);
    expect((await runToExit(config({ warehouse: `file://${p}` }, { name: "wh" }), dir)).message).toMatch(
      /point warehouse at a directory the writer's user may create and write/,
    );
    expect(await pg.sql("SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'floe_wh'", [], "app")).toEqual([]);
  });

  describe("transient: Postgres goes away and comes back", () => {
    let w: WriterProcess;
    let port: number;
    afterAll(async () => {
      await w?.kill();
    });

    it("reports retrying with the error on /healthz and in metrics, then carries on", async () => {
      port = await freePort();
      w = startWriterProcess(config({ http: { host: "127.0.0.1", port } }), dir);
      const equal = (what: string) =>
        waitUntil(
          what,
          async () => {
            const want = lines(await readPostgres(url("floe_cdc", "right"), "t"));
            const have = await icebergLines(pg.url("lake"), `file://${join(dir, "warehouse")}`, "t");
            return JSON.stringify(want) === JSON.stringify(have) ? have : undefined;
          },
          { progress: () => walProgress(pg) },
        );
      await equal("the initial copy of t");
      expect((await healthz(port)).body.state).toBe("streaming");
      expect(await metric(port, "floe_cdc_retrying")).toBe(0);

      const spec = { major: 17, dataDir: pg.dataDir, port: pg.port, settings: { fsync: "off" } };
      await stopCluster(spec);
      // The fault hit: the writer lost its source and says so while it waits.
      const seen = await waitUntil("/healthz to report retrying", async () => {
        const h = await healthz(port).catch(() => undefined);
        return h && h.body.state === "retrying" ? h : undefined;
      });
      expect(seen.status).toBe(503);
      // ... while liveness stays 200: an orchestrator must not restart a writer that retries by itself
      const live = await healthz(port, "/livez");
      expect([live.status, live.body.state]).toEqual([200, "retrying"]);
      expect(seen.body.retry).toEqual(
        expect.objectContaining({
          kind: expect.stringMatching(/^(connection|server)$/),
          attempt: expect.any(Number),
          backoffMs: expect.any(Number),
          nextAttemptAt: expect.any(String),
        }),
      );
      expect(await metric(port, "floe_cdc_retrying")).toBe(1);
      expect(await metric(port, `floe_cdc_errors_total{kind="${seen.body.retry.kind}"}`)).toBeGreaterThanOrEqual(1);
      expect(w.child.exitCode).toBeNull(); // still running: not a permanent error

      await startCluster(spec);
      await pg.sql("INSERT INTO t VALUES (1001, 'after the outage'); UPDATE t SET v = 'changed' WHERE id = 1", [], "app");
      await equal("the changes made after Postgres came back");
      const after = await waitUntil("/healthz to report streaming again", async () => {
        const h = await healthz(port);
        return h.body.state === "streaming" ? h : undefined;
      });
      expect(after.status).toBe(200);
      expect(after.body.retry).toBeUndefined();
      expect(await metric(port, "floe_cdc_retrying")).toBe(0);

      // The local warehouse is its owner's only: it holds a copy of the database.
      const modes = new Set<string>();
      const walk = (d: string): void => {
        modes.add(`dir ${(statSync(d).mode & 0o777).toString(8)}`);
        for (const e of readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(join(d, e.name));
          else modes.add(`file ${(statSync(join(d, e.name)).mode & 0o777).toString(8)}`);
        }
      };
      walk(join(dir, "warehouse"));
      expect([...modes].sort()).toEqual(["dir 700", "file 600"]);
    });
  });
});
