/**
 * Faults around a running `floe cdc run`: Postgres restarts, the slot is dropped, the catalog is
 * unreachable for a while, object storage fails for a while. The writer retries, reports on
 * /healthz and /metrics, and Iceberg ends equal to Postgres.
 */
import { ChildProcess, spawn } from "node:child_process";
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../../runtime/local/process";
import { CdcBed, cdcProgress, startCdcBed } from "../../helpers/cdc";
import { startPostgres, TestPostgres } from "../../helpers/postgres";
import { waitUntil } from "../../helpers/wait";

const CLI = join(__dirname, "../../../dist/runtime/cli.js");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("CDC writer under faults", () => {
  let bed: CdcBed;
  let catalogPg: TestPostgres;
  let child: ChildProcess;
  let port: number;
  let stderr = "";

  beforeAll(async () => {
    bed = await startCdcBed();
    catalogPg = await startPostgres({ major: 17 });
    await catalogPg.sql("CREATE DATABASE lake");
    await bed.pg.sql(`CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;`, [], "app");
    port = await freePort();
    const file = bed.configFile({ catalog: { type: "sql", uri: catalogPg.url("lake") }, http: { host: "127.0.0.1", port }, tables: [{ source: "public.t" }] });
    child = spawn(process.execPath, [CLI, "cdc", "run", "--config", file], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, FLOE_LOG_LEVEL: "info" },
    });
    child.stderr!.on("data", (d) => (stderr += d));
  });
  afterAll(async () => {
    child?.kill("SIGKILL");
    await catalogPg?.stop();
    await bed?.stop();
  });

  const equal = async (what: string) => {
    let pgRows: string[] = [];
    let ice: string[] = [];
    await waitUntil(
      `Iceberg t to equal Postgres after the ${what}`,
      async () => {
        pgRows = (await bed.pg.sql("SELECT id, v FROM t", [], "app")).map((r) => `${r.id}:${r.v}`).sort();
        try {
          const { Table, SqlCatalog } = await import("../../../runtime/iceberg");
          const cat = await SqlCatalog.connect({ name: "floe", url: catalogPg.url("lake"), warehouse: `file://${bed.warehouse}` });
          try {
            const table = await Table.load(cat, { namespace: ["floe"], name: "t" });
            const { readIceberg } = await import("../../helpers/compare");
            ice = readIceberg(table.metadata.location, table.schema().fields)
              .map((r) => `${r.id}:${r.v}`)
              .sort();
          } finally {
            await cat.close();
          }
        } catch {
          /* catalog down or table not there yet */
        }
        return JSON.stringify(ice) === JSON.stringify(pgRows);
      },
      { everyMs: 200, progress: writerProgress, explain: () => `Iceberg ${ice.length} rows, Postgres ${pgRows.length}\n${stderr.slice(-3000)}` },
    );
  };
  /** The writer at work: its slot, files written, its CPU time. */
  const writerProgress = () => cdcProgress(bed.pg, bed.warehouse, child.pid);
  /** Waits until the writer has counted an error since `before` (the fault hit it). */
  const errorSeen = (before: number, what: string) =>
    waitUntil(`the writer to hit the ${what}`, async () => (await metric("floe_cdc_errors_total")) > before, { progress: writerProgress });
  const metric = async (name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return text
      .split("\n")
      .filter((l) => l.startsWith(name))
      .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
  };

  it("starts, copies and serves /healthz and /metrics", async () => {
    await equal("initial copy");
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { state: string }).state).toBe("streaming");
    await bed.pg.sql("UPDATE t SET v = v || '+' WHERE id <= 10", [], "app");
    await equal("stream");
    expect(await metric("floe_cdc_rows_total")).toBeGreaterThanOrEqual(110);
    expect(await metric("floe_cdc_freshness_seconds")).toBeGreaterThanOrEqual(0);
    expect(await metric("floe_cdc_commit_seconds_count")).toBeGreaterThan(0);
  });

  it("carries on after Postgres restarts", async () => {
    await bed.pg.sql("INSERT INTO t VALUES (1001, 'before restart')", [], "app");
    await bed.pg.restart();
    await bed.pg.sql("INSERT INTO t VALUES (1002, 'after restart'); DELETE FROM t WHERE id = 1", [], "app");
    await equal("postgres restart");
  });

  it("waits out an unreachable catalog and commits once it is back", async () => {
    const errorsBefore = await metric("floe_cdc_errors_total");
    await catalogPg.sql("SELECT 1"); // up
    const { stopCluster, startCluster } = await import("../../../runtime/local/postgres");
    await stopCluster({ major: 17, dataDir: catalogPg.dataDir });
    await bed.pg.sql("INSERT INTO t VALUES (2001, 'while the catalog is down'); UPDATE t SET v = 'changed' WHERE id = 2", [], "app");
    await errorSeen(errorsBefore, "catalog outage");
    await startCluster({ major: 17, dataDir: catalogPg.dataDir, port: catalogPg.port, settings: { fsync: "off" } });
    await equal("catalog outage");
    expect(await metric("floe_cdc_errors_total")).toBeGreaterThan(errorsBefore);
  });

  it("waits out object storage errors", async () => {
    const errorsBefore = await metric("floe_cdc_errors_total");
    const data = join(bed.warehouse, "floe", "t", "data");
    renameSync(data, data + ".away");
    writeFileSync(data, "not a directory"); // every data file write now fails, even for root
    await bed.pg.sql("INSERT INTO t VALUES (3001, 'while storage fails')", [], "app");
    await errorSeen(errorsBefore, "storage outage");
    rmSync(data);
    renameSync(data + ".away", data);
    await equal("storage outage");
  });

  it("re-copies after the slot is dropped under it", async () => {
    await bed.pg.sql(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'floe_pg' AND active_pid IS NOT NULL`, [], "app");
    await bed.pg.sql(`SELECT pg_drop_replication_slot('floe_pg')`, [], "app").catch(async () => {
      await sleep(200);
      await bed.pg.sql(`SELECT pg_drop_replication_slot('floe_pg')`, [], "app");
    });
    await bed.pg.sql("INSERT INTO t VALUES (4001, 'after the slot was dropped'); DELETE FROM t WHERE id = 3", [], "app");
    await equal("slot dropped");
    expect(stderr).toMatch(/replication slot is missing/);
  });
});
