/**
 * The blue/green upgrade's replication I/O: connections, a subscription's progress and catch-up
 * wait, the publisher's slot position, and the row checks run on both sides at the cutover.
 * Decisions stay in plan.ts; the orchestrator sequences these.
 */
import { Client } from "pg";
import { Logger } from "../core/log";
import { pgConfig } from "../core/postgres-tls";
import { DbTarget, parseLsn, progress, Progress, TableCheck } from "./plan";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function targetFromUrl(url: string): DbTarget {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    dbname: decodeURIComponent(u.pathname.slice(1)) || "postgres",
    user: u.username ? decodeURIComponent(u.username) : undefined,
  };
}

/** A connection with libpq's sslmode / sslrootcert meanings (node-postgres alone reads `require` as verify-full against the public CAs). */
export async function connect(url: string): Promise<Client> {
  const c = new Client(pgConfig(url, {}, "the upgrade's connection"));
  c.on("error", () => undefined);
  await c.connect();
  return c;
}

export async function using<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = await connect(url);
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Progress of a subscription: relation states on the subscriber, lag from the publisher's slot. */
export async function subscriptionProgress(pubUrl: string, subUrl: string, sub: string, maxLagBytes: number): Promise<Progress> {
  const rels = await using(subUrl, async (c) =>
    (
      await c.query(
        `SELECT r.srrelid::regclass::text AS t, r.srsubstate AS s FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = $1`,
        [sub],
      )
    ).rows.map((r) => ({ table: r.t, state: r.s })),
  );
  const { lsn, flushed } = await using(pubUrl, (c) => slotPosition(c, sub));
  return progress(rels, lsn, flushed, BigInt(maxLagBytes));
}

/** The publisher's current WAL LSN and how far the subscriber behind `slot` has flushed. */
export async function slotPosition(c: Client, slot: string): Promise<{ lsn: bigint; flushed: bigint | null }> {
  const r = (
    await c.query(
      `SELECT pg_current_wal_lsn()::text AS lsn,
         (SELECT GREATEST(s.confirmed_flush_lsn, (SELECT max(flush_lsn) FROM pg_stat_replication WHERE application_name = $1))::text
            FROM pg_replication_slots s WHERE s.slot_name = $1) AS flushed`,
      [slot],
    )
  ).rows[0];
  return { lsn: parseLsn(r.lsn), flushed: r.flushed ? parseLsn(r.flushed) : null };
}

/** Waits until the subscription has copied every table and its lag is under maxLagBytes, logging progress. */
export async function waitCaughtUp(
  pubUrl: string,
  subUrl: string,
  sub: string,
  what: string,
  o: { catchUpTimeoutMs: number; maxLagBytes: number; signal?: AbortSignal; log: Logger },
): Promise<void> {
  const deadline = Date.now() + o.catchUpTimeoutMs;
  let lastLog = 0;
  for (;;) {
    o.signal?.throwIfAborted();
    const p = await subscriptionProgress(pubUrl, subUrl, sub, o.maxLagBytes);
    if (Date.now() - lastLog > 2000 || p.caughtUp) {
      o.log.info(p.caughtUp ? `${what} replication caught up` : `waiting for ${what} replication: initial copy and catch-up`, {
        tablesReady: `${p.ready}/${p.tables}`,
        copying: p.copying.slice(0, 5),
        lagBytes: p.lagBytes.toString(),
      });
      lastLog = Date.now();
    }
    if (p.caughtUp) return;
    if (Date.now() > deadline)
      throw new Error(`${what} replication did not catch up within ${o.catchUpTimeoutMs} ms (${p.ready}/${p.tables} tables ready, lag ${p.lagBytes} bytes)`);
    await sleep(100);
  }
}

/** Row counts (small tables) and a checksum of the rows with the highest primary keys, on both sides. */
export async function verifyTables(a: Client, b: Client, tables: string[], o: { exactCountBelow: number; sampleRows: number }): Promise<TableCheck[]> {
  const meta = (
    await a.query(
      `SELECT c.oid::regclass::text AS t, c.reltuples::float8 AS est,
          (SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p') AS pk
         FROM pg_class c WHERE c.oid = ANY($1::regclass[])`,
      [tables],
    )
  ).rows;
  const queries = meta.map((m) => {
    const pk = m.pk ? /^PRIMARY KEY \(([^)]*)\)/.exec(m.pk)?.[1] : undefined;
    const count = Number(m.est) < o.exactCountBelow ? `(SELECT count(*) FROM ${m.t})::text` : "NULL::text";
    const sample = pk
      ? `(SELECT md5(string_agg(x::text, '|' ORDER BY ${pk})) FROM (SELECT * FROM ${m.t} ORDER BY ${pk
          .split(",")
          .map((c: string) => `${c.trim()} DESC`)
          .join(", ")} LIMIT ${o.sampleRows}) x)`
      : "NULL::text";
    return { table: m.t as string, sql: `SELECT ${count} AS n, ${sample} AS h` };
  });
  const run = async (c: Client) => {
    const out: { n: number | null; h: string | null }[] = [];
    for (const q of queries) {
      const r = (await c.query(q.sql)).rows[0];
      out.push({ n: r.n === null ? null : Number(r.n), h: r.h });
    }
    return out;
  };
  const [ra, rb] = await Promise.all([run(a), run(b)]);
  return queries.map((q, i) => ({ table: q.table, blueCount: ra[i].n, greenCount: rb[i].n, blueSample: ra[i].h, greenSample: rb[i].h }));
}
