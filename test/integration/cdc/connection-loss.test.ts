/**
 * A lost Postgres connection is a retry, never a process crash (issue 11, item 8). Under load the
 * writer died with `Error: write EPIPE` (pg/lib/client.js) right after a big transaction committed
 * to Iceberg: while it was busy (applying and committing) it read nothing from the replication
 * connection, answered no keepalive, and the walsender dropped it after wal_sender_timeout; the
 * slot confirmation written after the commit then hit the closed socket, and the error rejected
 * the START_REPLICATION query's promise. The standby status timer (sender-timeout.test.ts) keeps the
 * connection up while the writer is busy; here the fault proxy takes the connection away at the
 * worst moments anyway, and the process must go on:
 *
 * - every source connection is reset right when a big transaction's commit lands (the catalog's
 *   answer held, the source connections reset, the answer released): `floe cdc run` goes on;
 * - every source connection is reset while the initial copy's commit waits on the catalog (the
 *   copy's connection idle): `floe cdc run` goes on.
 */
import { ChildProcess } from "node:child_process";
import { CdcBed, spawnWriter, startCdcBed } from "../../helpers/cdc";
import { FaultProxy } from "../../helpers/faults";
import { startPostgres, TestPostgres } from "../../helpers/postgres";
import { waitUntil } from "../../helpers/wait";

const WAL_SENDER_TIMEOUT_S = 2;

describe("lost Postgres connections", () => {
  let pg: TestPostgres;
  let bed: CdcBed;
  let source: FaultProxy;
  let catalogProxy: FaultProxy;
  let child: ChildProcess | undefined;
  let exited: { code: number | null; signal: string | null } | undefined;

  beforeAll(async () => {
    pg = await startPostgres({ settings: { wal_sender_timeout: `${WAL_SENDER_TIMEOUT_S}s`, logical_decoding_work_mem: "64kB" } });
    bed = await startCdcBed({ pg });
  });
  beforeEach(async () => {
    source = await FaultProxy.start({ name: "source", protocol: "postgres", target: { port: pg.port } });
    catalogProxy = await FaultProxy.start({ name: "catalog", protocol: "postgres", target: { port: pg.port } });
  });
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child!.once("exit", r));
      child.kill("SIGKILL");
      await gone;
    }
    child = undefined;
    exited = undefined;
    await source.stop();
    await catalogProxy.stop();
  });
  afterAll(async () => {
    await bed?.stop();
    await pg?.stop();
  });

  const table = async (name: string, rows: number) => {
    await pg.sql(`CREATE TABLE ${name} (id int PRIMARY KEY, v text); INSERT INTO ${name} SELECT g, 'v' || g FROM generate_series(1, ${rows}) g`, [], "app");
    await pg.sql(`CREATE PUBLICATION ${name}_pub FOR TABLE ${name}`, [], "app");
  };
  const overrides = (name: string, sourceUrl: string) => ({
    sources: [{ name: "pg", connectionString: sourceUrl, slot: `${name}_slot`, publication: `${name}_pub` }],
    catalog: { type: "sql" as const, uri: catalogProxy.pgUrl("lake"), name: "floe" },
    tables: [{ source: `public.${name}` }],
    commit: { intervalMs: 50 },
  });
  const config = (name: string, sourceUrl: string) => bed.configFile(overrides(name, sourceUrl));
  const spawn = (file: string) => {
    child = spawnWriter(file);
    child.once("exit", (code, signal) => (exited = { code, signal }));
  };
  /** Waits until Iceberg equals Postgres (while the writer advances); fails at once if the writer process went away. */
  const equal = async (name: string) => {
    await bed.waitForEqual(`public.${name}`, { child });
    expect(exited).toBeUndefined(); // the process never went away
  };

  it("floe cdc run goes on when the source connections are reset right as a big transaction's commit lands", async () => {
    await table("big", 10);
    spawn(config("big", source.pgUrl("app")));
    await equal("big");
    const fault = catalogProxy.arm({ name: "commit CAS", match: /^UPDATE iceberg_tables SET metadata_location/, action: "stall" });
    await pg.sql("INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(100, 30099) g", [], "app"); // streamed: past logical_decoding_work_mem
    const hit = await fault.hit;
    expect(hit.action).toBe("stall");
    const reset = source.resetAll(); // replication (and any other) source connection, while the commit's answer is held
    catalogProxy.release(); // the commit lands; the confirmation that follows meets a reset socket
    expect(reset).toBeGreaterThanOrEqual(1);
    await pg.sql("INSERT INTO big VALUES (0, 'after the reset')", [], "app");
    await equal("big");
    expect(source.connections).toBeGreaterThan(reset); // it connected again
  });

  it("floe cdc run goes on when the source connections are reset while the initial copy's commit waits on the catalog", async () => {
    await table("copy", 20_000);
    const fault = catalogProxy.arm({ name: "copy commit CAS", match: /^UPDATE iceberg_tables SET metadata_location/, action: "stall" });
    spawn(config("copy", source.pgUrl("app")));
    await fault.hit; // the copy's rows are written, its commit waits; its COPY connection is idle
    await waitUntil("the copy's source connections to be open", () => source.openConnections >= 2, { progress: () => ({ connections: source.connections }) });
    const reset = source.resetAll();
    catalogProxy.release();
    expect(reset).toBeGreaterThanOrEqual(2);
    await pg.sql("INSERT INTO copy VALUES (0, 'after the reset')", [], "app");
    await equal("copy");
  });
});
