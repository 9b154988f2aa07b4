/**
 * A transaction that takes longer than the server's wal_sender_timeout to get into Iceberg keeps
 * its replication connection. While the writer works on one transaction the stream is paused
 * (backpressure) and the server's keepalives wait unread; a writer that only answered those would
 * be dropped by the server ("terminating walsender process due to replication timeout") and, on
 * restart, replay the same transaction into the same timeout, forever. The writer must send standby
 * status on its own, carrying only what Iceberg holds.
 *
 * The slow step is made from outside: the catalog connection goes through the fault proxy, whose
 * stall holds the commit of transaction A (the server applies it, the writer does not hear back)
 * while transaction B queues behind it; the source runs with wal_sender_timeout = 2 s.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../../runtime/core/log";
import { parseLsn } from "../../../runtime/cdc/lsn";
import { CdcWriter } from "../../../runtime/cdc/writer";
import { SqlCatalog } from "../../../runtime/iceberg";
import { CdcBed, RunningWriter, startCdcBed } from "../../helpers/cdc";
import { FaultProxy } from "../../helpers/faults";
import { startPostgres, TestPostgres } from "../../helpers/postgres";
import { GiveUp, waitUntil } from "../../helpers/wait";

const SENDER_TIMEOUT_MS = 2000;
const log = createLogger({}, (line) => process.env.FLOE_TEST_LOG && process.stderr.write(line + "\n"));

describe("CDC writer with an apply longer than wal_sender_timeout", () => {
  let pg: TestPostgres;
  let bed: CdcBed;
  let proxy: FaultProxy;
  let catalog: SqlCatalog;
  let running: RunningWriter | undefined;
  beforeAll(async () => {
    pg = await startPostgres({ settings: { wal_sender_timeout: `${SENDER_TIMEOUT_MS}ms` } });
    bed = await startCdcBed({ pg });
    proxy = await FaultProxy.start({ name: "catalog", protocol: "postgres", target: { port: pg.port } });
    catalog = await SqlCatalog.connect({ name: "floe", url: proxy.pgUrl("lake"), warehouse: `file://${bed.warehouse}` });
  });
  afterAll(async () => {
    proxy?.release();
    await running?.stop().catch(() => undefined);
    await (catalog as unknown as { close?: () => Promise<void> })?.close?.().catch(() => undefined);
    await proxy?.stop();
    await bed?.stop();
    await pg?.stop();
  });

  const serverLog = () => readFileSync(join(pg.dataDir, "server.log"), "utf8");
  const slot = async () => {
    const [s] = await pg.sql(
      `SELECT s.active_pid AS pid, s.confirmed_flush_lsn::text AS confirmed, r.reply_time::text AS reply,
              (r.reply_time > now() - $1 * interval '1 ms') AS recent, now()::text AS now
         FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = 'floe_pg'`,
      [SENDER_TIMEOUT_MS],
    );
    return s as { pid: number | null; confirmed: string; reply: string | null; recent: boolean | null; now: string };
  };

  it("answers the server on its own while a commit is held, and confirms nothing the commit holds", async () => {
    await pg.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'copied')", [], "app");
    const writer = new CdcWriter(bed.config({ tables: [{ source: "public.t" }] }), { catalog, log });
    const done = writer.run();
    done.catch(() => undefined);
    running = {
      writer,
      done,
      stop: async () => {
        await writer.stop();
        await done;
      },
    };
    await writer.ready;
    await bed.waitForEqual("t", { writer: running });
    const first = await waitUntil("the writer's walsender", async () => ((await slot()).pid ? slot() : undefined));

    const held = proxy.arm({ name: "hold the catalog commit", match: /^UPDATE iceberg_tables /, action: "stall" });
    const [{ lsn: beforeA }] = await pg.sql("SELECT pg_current_wal_insert_lsn()::text AS lsn");
    await pg.sql("INSERT INTO t VALUES (2, 'A')", [], "app");
    const fault = await held.hit;
    expect(fault.request).toMatch(/^UPDATE iceberg_tables /);
    // B arrives while A's commit is held: the writer's stream is paused behind it
    await pg.sql("INSERT INTO t VALUES (3, 'B')", [], "app");
    const [{ since }] = await pg.sql("SELECT now()::text AS since");

    // Held for three timeouts by the server's clock; all along the same walsender hears the writer,
    // and the slot is confirmed no further than before A (A is not in Iceberg yet).
    let checks = 0;
    await waitUntil(
      `the server to hear the writer for ${(3 * SENDER_TIMEOUT_MS) / 1000} s while A's commit is held`,
      async () => {
        const s = await slot();
        if (s.pid !== first.pid) {
          const lines = serverLog()
            .split("\n")
            .filter((l) => /replication timeout|terminating walsender/.test(l));
          throw new GiveUp(`the walsender ${first.pid} is gone (slot now held by ${s.pid}); server log: ${lines.join(" | ") || "nothing about it"}`);
        }
        if (parseLsn(s.confirmed) > parseLsn(beforeA))
          throw new GiveUp(`the slot was confirmed to ${s.confirmed}, past ${beforeA}, while A was not committed to Iceberg`);
        if (writer.status.state === "failed") throw new GiveUp(`the writer failed: ${writer.status.error}`);
        checks++;
        const [{ over }] = await pg.sql("SELECT now() - $1::timestamptz > $2 * interval '1 ms' AS over", [since, 3 * SENDER_TIMEOUT_MS]);
        return over && s.recent === true;
      },
      { progress: async () => ({ replyHeard: (await slot()).reply }) },
    );
    expect(checks).toBeGreaterThan(1);
    expect(proxy.faults.filter((f) => f.rule === "hold the catalog commit")).toHaveLength(1);

    proxy.release();
    const r = await bed.waitForEqual("t", { writer: running });
    expect(r.ice).toEqual(r.pg);
    expect(r.ice).toHaveLength(3);
    expect(writer.status.state).toBe("streaming");
    expect((await slot()).pid).toBe(first.pid);
    expect(serverLog()).not.toMatch(/replication timeout/);
  });
});
