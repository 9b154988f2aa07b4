/**
 * The initial copy's boundary (the chaos run's "lost 1: counters 2:317"). A slot's exported
 * snapshot holds every transaction whose commit record starts before the slot's consistent point;
 * the slot streams every transaction whose commit record starts at or after it. So a transaction
 * whose commit record is the very first WAL record after the consistent point is not in the copy
 * and comes through the stream with commit LSN = the consistent point. A table that took the copy
 * must apply it (Postgres' own table sync applies changes whose final LSN is >= the copy's LSN);
 * a writer that records the consistent point as the table's LSN and skips "commit LSN <= table
 * LSN" loses it. Under load this happens whenever the record after the slot's last
 * xl_running_xacts is a commit: in the chaos run, a writer killed before its copy of counters
 * landed left counters to be copied again at a temporary slot, and the transaction committed
 * right at that slot's consistent point was in events (streamed from the permanent slot) but never
 * in counters.
 *
 * The test puts a transaction's commit exactly there, from outside: the slot's creation waits for
 * the transactions running when it starts (B), then for those running at its next
 * xl_running_xacts (C); a transaction A that starts after that and commits right after the third
 * xl_running_xacts (the consistent point) is the one. It asserts that A's commit record starts at
 * the consistent point (the WAL insert position right before A's COMMIT), then that the writer,
 * once it confirmed the slot past A, holds A's changes exactly once.
 */
import type { Client } from "pg";
import { parseLsn } from "../../../runtime/cdc/lsn";
import { CdcBed, RunningWriter, startCdcBed } from "../../helpers/cdc";
import { startPostgres, TestPostgres } from "../../helpers/postgres";
import { GiveUp, waitUntil } from "../../helpers/wait";

const SLOT = "floe_pg";

/** The current xid of a session's transaction (as pg_locks shows it). */
async function xidOf(c: Client): Promise<string> {
  return String((await c.query("SELECT (txid_current() % 4294967296)::text AS x")).rows[0].x);
}

describe("the initial copy's boundary", () => {
  let source: TestPostgres;
  let catalogServer: TestPostgres;
  let bed: CdcBed;
  const sessions: Client[] = [];
  let writer: RunningWriter | undefined;

  beforeAll(async () => {
    // Nothing but the test writes WAL on the source: no autovacuum between the consistent point and A's commit.
    source = await startPostgres({ settings: { autovacuum: "off" } });
    catalogServer = await startPostgres(); // the catalog's commits write WAL elsewhere
    bed = await startCdcBed({ pg: source, catalogPg: catalogServer });
    await source.sql(
      `CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL);
       CREATE TABLE log (id bigserial PRIMARY KEY, note text NOT NULL);
       CREATE TABLE other (x int);
       INSERT INTO items SELECT g, 0 FROM generate_series(1, 10) g;`,
      [],
      "app",
    );
  });
  afterAll(async () => {
    await writer?.stop().catch(() => undefined);
    for (const s of sessions) await s.end().catch(() => undefined);
    await bed?.stop();
    await source?.stop();
    await catalogServer?.stop();
  });

  it("a transaction whose commit record starts at the slot's consistent point is in the tables exactly once", async () => {
    const connect = async () => {
      const c = await source.connect("app");
      sessions.push(c);
      return c;
    };
    const [a, b, c, watch] = [await connect(), await connect(), await connect(), await connect()];
    const slotCreation = () =>
      watch
        .query("SELECT query, wait_event_type, wait_event FROM pg_stat_activity WHERE backend_type = 'walsender'")
        .then((r) => ({ walsenders: JSON.stringify(r.rows) }));
    /** Waits until the slot's creation waits for transaction `xid` to end. */
    const waitsFor = (xid: string, who: string) =>
      waitUntil(
        `the slot's creation to wait for ${who} (xid ${xid})`,
        async () => {
          if (writer === undefined && failed) throw new GiveUp(`the writer failed: ${failed.message}`);
          const r = await watch.query("SELECT 1 FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted AND transactionid::text = $1", [xid]);
          return (r.rowCount ?? 0) > 0;
        },
        { everyMs: 20, progress: slotCreation },
      );

    // B runs when the slot's creation starts: its first xl_running_xacts lists B, and it waits for B.
    await b.query("BEGIN");
    await b.query("INSERT INTO other VALUES (1)");
    const xb = await xidOf(b);
    let failed: Error | undefined;
    const starting = bed.startWriter({
      tables: [{ source: "public.items" }, { source: "public.log", mode: "changelog" }],
      commit: { intervalMs: 50 },
    });
    starting.then(
      (w) => (writer = w),
      (e) => (failed = e),
    );
    await waitsFor(xb, "B");
    // C runs at its second xl_running_xacts (after B ends): it waits for C.
    await c.query("BEGIN");
    await c.query("INSERT INTO other VALUES (2)");
    const xc = await xidOf(c);
    await b.query("COMMIT");
    await waitsFor(xc, "C");
    // A starts after that second one: the third (after C ends) lists only A, and is the consistent point.
    await a.query("BEGIN");
    await a.query("UPDATE items SET v = v + 1 WHERE id = 1");
    await a.query("INSERT INTO log (note) VALUES ('committed at the consistent point')");
    await c.query("COMMIT");
    const consistentPoint = await waitUntil(
      "the slot's consistent point",
      async () => {
        if (failed) throw new GiveUp(`the writer failed: ${failed.message}`);
        const r = await watch.query("SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1", [SLOT]);
        return r.rows[0]?.lsn ? String(r.rows[0].lsn) : undefined;
      },
      { everyMs: 5, progress: slotCreation },
    );
    const atCommit = String((await a.query("SELECT pg_current_wal_insert_lsn()::text AS lsn")).rows[0].lsn);
    await a.query("COMMIT");
    const afterCommit = parseLsn(String((await watch.query("SELECT pg_current_wal_insert_lsn()::text AS lsn")).rows[0].lsn));
    // the fault hit its moment: A's commit record starts at the consistent point (nothing else wrote WAL in between)
    expect({ aCommitRecordStartsAt: atCommit }).toEqual({ aCommitRecordStartsAt: consistentPoint });

    const running = await starting;
    // The writer has read A and committed or skipped it once it confirms the slot past A's commit.
    await waitUntil(
      "the writer to confirm the slot past A's commit",
      async () => {
        if (running.writer.status.state === "failed") throw new GiveUp(`the writer failed: ${running.writer.status.error}`);
        const r = await watch.query("SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1", [SLOT]);
        return parseLsn(String(r.rows[0].lsn)) >= afterCommit;
      },
      { everyMs: 50, progress: async () => ({ ...(await slotCreation()), state: running.writer.status.state }) },
    );
    const items = (await bed.icebergRows("items")).map((l) => JSON.parse(l)).find((r) => Number(r.id) === 1);
    const log = (await bed.icebergRows("log")).map((l) => JSON.parse(l)).filter((r) => r.note === "committed at the consistent point");
    expect({ item1: Number(items?.v), logRows: log.map((r) => r._op) }).toEqual({ item1: 1, logRows: ["I"] });
  });
});
