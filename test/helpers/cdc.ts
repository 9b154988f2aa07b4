/**
 * A CDC test bed: a real source Postgres, the SQL catalog in a second database of the same
 * server, a temp warehouse, and a writer running in-process (or as a `floe cdc run` child).
 */
import { ChildProcess, spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "pg";
import { createLogger } from "../../runtime/core/log";
import { CdcConfig, CdcConfigInput, parseCdcConfig } from "../../runtime/cdc/config";
import { CdcWriter, lsnKey } from "../../runtime/cdc/writer";
import { parseLsn } from "../../runtime/cdc/lsn";
import { currentSnapshot } from "../../runtime/iceberg/metadata";
import { SqlCatalog, Table } from "../../runtime/iceberg";
import { lines, readIceberg, readPostgres } from "./compare";
import { startPostgres, TestPostgres } from "./postgres";
import { cdcApplied, directoryBytes, GiveUp, processCpuMs, Progress, waitUntil, WaitStalled, walProgress } from "./wait";

export interface CdcBed {
  pg: TestPostgres;
  /** The server holding the SQL catalog's database "lake" (the source's unless startCdcBed got catalogPg). */
  catalogPg: TestPostgres;
  warehouse: string;
  config(overrides?: Partial<CdcConfigInput>): CdcConfig;
  configFile(overrides?: Partial<CdcConfigInput>): string;
  /** Starts an in-process writer; resolves once it streams. */
  startWriter(overrides?: Partial<CdcConfigInput>): Promise<RunningWriter>;
  catalog(): Promise<SqlCatalog>;
  /** One catalog connection pool for the test's own reads (closed by stop()). */
  sharedCatalog(): Promise<SqlCatalog>;
  /**
   * Waits until the Iceberg table equals the Postgres table, returns both sides. Fails when the
   * writer made no progress for `idleMs` (cdcProgress; default 120 s), saying how the tables
   * differ. With `writer`, a writer that failed meanwhile ends the wait at once with its error;
   * `pid` (a `floe cdc run` child) adds that process's CPU time to the progress measures; `child`
   * does too, and its exit ends the wait at once. `skipLists` leaves list columns out of the
   * comparison: chdb's JSON form of a list loses element types (NaN reads as null, dates as ISO
   * text), so a test with lists of those types waits on the other columns of the same transactions
   * and checks the lists through the engine tier's exact comparison.
   */
  waitForEqual(
    table: string,
    opts?: { idleMs?: number; target?: string; source?: string; writer?: RunningWriter; pid?: number; child?: ChildProcess; skipLists?: boolean },
  ): Promise<{ pg: string[]; ice: string[] }>;
  icebergRows(target: string): Promise<string[]>;
  stop(): Promise<void>;
}

export interface RunningWriter {
  writer: CdcWriter;
  done: Promise<void>;
  stop(): Promise<void>;
}

const quietLog = createLogger({}, (line) => {
  if (process.env.FLOE_TEST_LOG) process.stderr.write(line + "\n");
});

/**
 * `catalogPg`: the SQL catalog's database "lake" lives on that server instead of the source's (so
 * the source can restart without a catalog outage, and the other way round).
 */
export async function startCdcBed(opts: { major?: number; pg?: TestPostgres; catalogPg?: TestPostgres } = {}): Promise<CdcBed> {
  const pg = opts.pg ?? (await startPostgres({ major: opts.major ?? 17 }));
  const lakePg = opts.catalogPg ?? pg;
  await pg.sql("CREATE DATABASE app");
  await lakePg.sql("CREATE DATABASE lake");
  const warehouse = mkdtempSync(join(tmpdir(), "floe-wh-"));
  const catalogs: SqlCatalog[] = [];
  const writers: RunningWriter[] = [];
  const config = (overrides: Partial<CdcConfigInput> = {}) =>
    parseCdcConfig({
      sources: [{ name: "pg", connectionString: pg.url("app") }],
      catalog: { type: "sql", uri: lakePg.url("lake") },
      warehouse: `file://${warehouse}`,
      commit: { intervalMs: 100 },
      http: { port: 0 },
      ...overrides,
    });
  const catalog = async () => {
    const c = await SqlCatalog.connect({ name: "floe", url: lakePg.url("lake"), warehouse: `file://${warehouse}` });
    catalogs.push(c);
    return c;
  };
  let shared: Promise<SqlCatalog> | undefined;
  const sharedCatalog = () => (shared ??= catalog());
  const icebergRows = async (target: string) => {
    const t = await Table.load(await sharedCatalog(), { namespace: ["floe"], name: target });
    return lines(readIceberg(t.metadata.location, t.schema().fields));
  };
  const bed: CdcBed = {
    pg,
    catalogPg: lakePg,
    warehouse,
    config,
    configFile(overrides) {
      const f = join(warehouse, `cdc-${Date.now()}.json`);
      writeFileSync(
        f,
        JSON.stringify(config(overrides), (_k, v) => (typeof v === "bigint" ? v.toString() : v)),
      );
      return f;
    },
    catalog,
    sharedCatalog,
    async startWriter(overrides) {
      // One writer at a time per bed: a slot serves one reader (an earlier test may have failed before stopping its own).
      for (const w of writers.splice(0)) await w.stop().catch(() => undefined);
      const writer = new CdcWriter(config(overrides), { catalog: await catalog(), log: quietLog });
      const done = writer.run();
      done.catch(() => undefined);
      await writer.ready;
      const running = {
        writer,
        done,
        stop: async () => {
          await writer.stop();
          await done;
        },
      };
      writers.push(running);
      return running;
    },
    icebergRows,
    async waitForEqual(table, o = {}) {
      const target = o.target ?? table.split(".").pop()!;
      let last = { pg: [] as string[], ice: [] as string[] };
      let iceError: unknown;
      let snapshot = "";
      const server = await pg.connect();
      try {
        return await waitUntil(
          `Iceberg ${target} to equal Postgres ${table}`,
          async () => {
            let listColumns: string[] = [];
            const withoutLists = (rows: Record<string, unknown>[]) =>
              o.skipLists ? rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !listColumns.includes(k)))) : rows;
            let ice: string[] = [];
            let pgRows: string[] = [];
            try {
              const t = await Table.load(await sharedCatalog(), { namespace: ["floe"], name: target });
              snapshot = String(t.metadata["current-snapshot-id"] ?? "");
              listColumns = t
                .schema()
                .fields.filter((f) => typeof f.type !== "string")
                .map((f) => f.name);
              ice = lines(withoutLists(readIceberg(t.metadata.location, t.schema().fields)));
              iceError = undefined;
            } catch (e) {
              iceError = e; // not created yet, or unreadable: said when giving up
            }
            pgRows = lines(withoutLists(await readPostgres(pg.url(o.source ?? "app"), table)));
            last = { pg: pgRows, ice };
            if (JSON.stringify(pgRows) === JSON.stringify(ice)) return last;
            if (o.writer?.writer.status.state === "failed") throw new GiveUp(`the writer failed: ${o.writer.writer.status.error}`);
            if (o.child && (o.child.exitCode !== null || o.child.signalCode !== null))
              throw new GiveUp(`the writer process exited (code ${o.child.exitCode}, signal ${o.child.signalCode})`);
            return undefined;
          },
          {
            idleMs: o.idleMs,
            everyMs: 200,
            progress: async () => ({ snapshot, ...(await cdcProgress(server, warehouse, o.pid ?? o.child?.pid)) }),
            explain: () => `${differences(last.pg, last.ice)}${iceError ? `; reading Iceberg: ${(iceError as Error).message}` : ""}`,
          },
        );
      } finally {
        await server.end().catch(() => undefined);
      }
    },
    async stop() {
      for (const w of writers) await w.stop().catch(() => undefined);
      for (const c of catalogs) await (c as unknown as { close?: () => Promise<void> }).close?.().catch(() => undefined);
      if (!opts.pg) await pg.stop();
      rmSync(warehouse, { recursive: true, force: true });
    },
  };
  return bed;
}

export { lsnKey };

/**
 * What a CDC writer advancing looks like, for waits: the source server's walsenders (sent and
 * confirmed LSNs: a transaction being decoded and streamed, a commit confirmed), the changes an
 * in-process writer applied (floe_cdc_rows_total, floe_cdc_transactions_total), the bytes under
 * the warehouse (data, delete and metadata files being written), and with `pid` the CPU time of a
 * writer process.
 */
export async function cdcProgress(server: Parameters<typeof walProgress>[0], warehouse: string, pid?: number): Promise<Progress> {
  return {
    ...(await walProgress(server)),
    applied: await cdcApplied(),
    warehouseBytes: directoryBytes(warehouse),
    writerCpuMs: processCpuMs(pid),
  };
}

/** How two sorted row lists differ, in a line: counts and the first rows present on one side only. */
export function differences(pg: string[], ice: string[]): string {
  const iceSet = new Set(ice);
  const pgSet = new Set(pg);
  const missing = pg.filter((l) => !iceSet.has(l));
  const extra = ice.filter((l) => !pgSet.has(l));
  const cut = (l: string) => (l.length > 200 ? l.slice(0, 200) + "…" : l);
  return (
    `Postgres ${pg.length} rows, Iceberg ${ice.length}; ${missing.length} only in Postgres${missing.length ? ` (first: ${cut(missing[0])})` : ""}, ` +
    `${extra.length} only in Iceberg${extra.length ? ` (first: ${cut(extra[0])})` : ""}`
  );
}

/** The built CLI (npm test builds it first); FLOE_TEST_CLI points the tests at another build (a deliberately broken writer). */
const CLI =
  process.env.FLOE_TEST_CLI ??
  // from test/helpers (ts-jest) or dist/test/helpers (compiled benches)
  [join(__dirname, "../../dist/runtime/cli.js"), join(__dirname, "../../runtime/cli.js")].find((f) => existsSync(f)) ??
  join(__dirname, "../../dist/runtime/cli.js");

export type WriterProcess = ChildProcess & {
  /** The last lines the writer logged (for failure messages); FLOE_TEST_LOG also copies them to stderr. */
  logTail(lines?: number): string;
  /** How many lines it has logged (a progress measure: it logs what it does). */
  readonly logLines: number;
};

/**
 * `floe cdc run --config FILE` as a child process; its last 200 log lines are kept. With
 * `logDir` (or FLOE_TEST_WRITER_LOGS) the writer logs at debug level (every transaction with the
 * LSNs of its tables, every commit with its state) into `<logDir>/writer-<pid>.log`.
 */
export function spawnWriter(configFile: string, opts: { logDir?: string } = {}): WriterProcess {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm test does)`);
  const logDir = opts.logDir ?? process.env.FLOE_TEST_WRITER_LOGS;
  const env = logDir ? { ...process.env, FLOE_LOG_LEVEL: "debug" } : process.env;
  const child = spawn(process.execPath, [CLI, "cdc", "run", "--config", configFile], { stdio: ["ignore", "ignore", "pipe"], env }) as WriterProcess;
  const file = logDir && child.pid ? createWriteStream(join(logDir, `writer-${child.pid}.log`), { flags: "a" }) : undefined;
  file?.on("error", () => undefined);
  child.once("exit", () => file?.end());
  const kept: string[] = [];
  let partial = "";
  let logged = 0;
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    file?.write(chunk);
    if (process.env.FLOE_TEST_LOG) process.stderr.write(chunk);
    const parts = (partial + chunk).split("\n");
    partial = parts.pop()!;
    kept.push(...parts);
    logged += parts.length;
    if (kept.length > 200) kept.splice(0, kept.length - 200);
  });
  child.logTail = (n = 20) => [...kept, partial].filter(Boolean).slice(-n).join("\n");
  Object.defineProperty(child, "logLines", { get: () => logged });
  return child;
}

/** The workload's tables: accounts (mirror), events (inserts) and counters (one row per client, +1 per transaction). */
export async function createWorkloadTables(bed: CdcBed, opts: { accounts: number; clients: number }): Promise<void> {
  await bed.pg.sql(
    `CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, note text);
     CREATE TABLE events (id bigserial PRIMARY KEY, account int NOT NULL, delta bigint NOT NULL);
     CREATE TABLE counters (client int PRIMARY KEY, n bigint NOT NULL);
     INSERT INTO accounts SELECT g, 1000, 'start' FROM generate_series(1, ${opts.accounts}) g;
     INSERT INTO counters SELECT g, 0 FROM generate_series(1, ${opts.clients}) g;`,
    [],
    "app",
  );
}

/** CDC table configs for the workload: accounts mirrored, events and counters as changelogs (every change a row). */
export const WORKLOAD_TARGETS = [
  { source: "public.accounts" },
  { source: "public.events", mode: "changelog" as const },
  { source: "public.counters", mode: "changelog" as const },
];

export interface Workload {
  /** Transactions committed so far, all clients. */
  readonly committed: number;
  /**
   * A lower bound of the commit LSN of the last committed transaction: pg_current_wal_insert_lsn()
   * inside it, before its COMMIT. A table whose floe.lsn is at or below it lacks that transaction.
   */
  readonly lastCommitLsn: bigint;
  /** Ends the clients; returns each client's final counter (= its committed transactions). */
  stop(): Promise<number[]>;
  /**
   * The transaction that set client `client`'s counter to `n` (when its COMMIT was answered): its
   * xid and pg_current_wal_insert_lsn() before its COMMIT, for diagnosing a lost change.
   */
  transaction(client: number, n: number): { xid: string; lsnBefore: string } | undefined;
}

/**
 * `clients` concurrent clients making transfers between `accounts` accounts. Each transaction:
 * two account updates, two events rows, and its client's counter + 1; every `every`-th also runs
 * `extra`, then deletes and re-inserts an account. With `reconnect`, a client whose connection is
 * lost (a server restart) connects again and goes on; whether its last COMMIT landed is then
 * unknown, so stop() reads the final counters from Postgres (it always does: they are exact).
 */
export function startWorkload(
  bed: CdcBed,
  opts: { clients: number; accounts: number; every: number; extra?: (c: Client, txn: number) => Promise<void>; reconnect?: boolean },
): Workload {
  let writing = true;
  let committed = 0;
  let lastCommitLsn = 0n;
  const finals: number[] = new Array(opts.clients).fill(0);
  const txns = new Map<string, { xid: string; lsnBefore: string }>();
  const open = async () => {
    const c = await bed.pg.connect("app");
    c.on("error", () => undefined); // a query in flight gets the error; an idle client must not crash the test
    return c;
  };
  const clients = Array.from({ length: opts.clients }, async (_, i) => {
    const client = i + 1;
    let c = await open();
    try {
      for (let txn = 0; writing; txn++) {
        const a = 1 + Math.floor(Math.random() * opts.accounts);
        const b = 1 + Math.floor(Math.random() * opts.accounts);
        const amt = Math.floor(Math.random() * 50);
        try {
          await c.query("BEGIN");
          await c.query("UPDATE accounts SET balance = balance - $2, note = 'tx' || $3 WHERE id = $1", [a, amt, `${client}.${txn}`]);
          await c.query("UPDATE accounts SET balance = balance + $2 WHERE id = $1", [b, amt]);
          await c.query("INSERT INTO events (account, delta) VALUES ($1, $2), ($3, $4)", [a, -amt, b, amt]);
          if (txn % opts.every === 0) {
            await opts.extra?.(c, txn);
            await c.query("DELETE FROM accounts WHERE id = $1", [a]);
            await c.query("INSERT INTO accounts VALUES ($1, 1000, 'reborn')", [a]);
          }
          const r = await c.query(
            "UPDATE counters SET n = n + 1 WHERE client = $1 RETURNING n, pg_current_wal_insert_lsn()::text AS lsn, (txid_current() % 4294967296)::text AS xid",
            [client],
          );
          await c.query("COMMIT");
          finals[i] = Number(r.rows[0].n);
          txns.set(`${client}:${finals[i]}`, { xid: String(r.rows[0].xid), lsnBefore: String(r.rows[0].lsn) });
          const lsn = parseLsn(r.rows[0].lsn);
          if (lsn > lastCommitLsn) lastCommitLsn = lsn;
          committed++;
        } catch (e) {
          // clients deadlock on each other's accounts now and then: that transaction is rolled back, the next one goes on
          if ((e as { code?: string }).code === "40P01") {
            await c.query("ROLLBACK");
            continue;
          }
          if (!opts.reconnect || !lostConnection(e)) throw e;
          await c.end().catch(() => undefined);
          c = await reconnect(open, () => writing);
        }
      }
    } catch (e) {
      writing = false; // one client failing ends the others too
      throw e;
    } finally {
      await c.end().catch(() => undefined);
    }
  });
  return {
    get committed() {
      return committed;
    },
    get lastCommitLsn() {
      return lastCommitLsn;
    },
    transaction: (client, n) => txns.get(`${client}:${n}`),
    async stop() {
      writing = false;
      await Promise.all(clients);
      const rows = await bed.pg.sql("SELECT client, n FROM counters ORDER BY client", [], "app");
      for (const r of rows) finals[Number(r.client) - 1] = Number(r.n);
      return finals;
    },
  };
}

/** A connection lost or refused (server shutting down, restarting, reset), not an SQL error. */
function lostConnection(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? "";
  return (
    /^(57P0[1-3]|08)/.test(code) ||
    /ECONNRESET|ECONNREFUSED|EPIPE|Connection terminated|not queryable|shutting down|starting up/i.test((e as Error).message ?? "")
  );
}

/** Connects again until the server takes it (it is restarting), while `go()`. */
async function reconnect(open: () => Promise<Client>, go: () => boolean): Promise<Client> {
  for (;;) {
    try {
      return await open();
    } catch (e) {
      if (!go() || !lostConnection(e)) throw e;
      await sleep(100);
    }
  }
}

/** floe.lsn.<source> of a table's current snapshot (0 when it has none, or does not exist yet). */
export async function icebergLsn(bed: CdcBed, target: string, source = "pg"): Promise<bigint> {
  const catalog = await bed.sharedCatalog();
  if (!(await catalog.tableExists({ namespace: ["floe"], name: target }))) return 0n;
  const loaded = await catalog.loadTable({ namespace: ["floe"], name: target });
  const lsn = currentSnapshot(loaded.metadata)?.summary[lsnKey(source)];
  return lsn ? BigInt(lsn) : 0n;
}

export interface KillReport {
  /** Writers started and killed. */
  kills: number;
  /** Kills that landed after the killed writer had committed, while Postgres held transactions it had not yet committed to Iceberg. */
  midStream: number;
  /**
   * Per kill: tables whose current snapshot the killed writer had changed when it was killed,
   * whether it was mid-stream, and when (ms since the epoch) it started, had committed, was killed.
   */
  detail: { commits: number; midStream: boolean; pid: number; startedAt: number; committedAt: number; killedAt: number }[];
}

/**
 * kill -9 of `floe cdc run` that lands only after the killed writer has committed: each writer is
 * started, the catalog is watched until that writer has committed at least one snapshot, then it
 * is killed at a random moment up to `spreadMs` later. A kill counts as mid-stream when Postgres
 * had then committed a transaction the writer had not yet committed to Iceberg (`watch`'s
 * floe.lsn at or below the workload's last commit). Goes on until `kills` mid-stream kills landed
 * (at most 3 × kills writers).
 */
export async function killAfterCommits(
  bed: CdcBed,
  configFile: string,
  load: Workload,
  opts: {
    kills: number;
    spreadMs: number;
    watch: string;
    /** Runs once the writer has committed, before the random wait and the kill (the chaos run's faults). */
    afterCommit?: (writer: WriterProcess, kill: number) => Promise<void>;
    /** Each writer's debug log goes to a file here (see spawnWriter). */
    logDir?: string;
    /** Called after each kill with its detail and number (1-based). */
    onKill?: (detail: KillReport["detail"][number], kill: number) => void;
  },
): Promise<KillReport> {
  const catalog = await bed.sharedCatalog(); // creates the catalog tables when missing
  const lake = await bed.catalogPg.connect("lake");
  const report: KillReport = { kills: 0, midStream: 0, detail: [] };
  try {
    while (report.midStream < opts.kills && report.kills < opts.kills * 3) {
      const before = await tableSnapshots(catalog, lake);
      const child = spawnWriter(configFile, { logDir: opts.logDir });
      const startedAt = Date.now();
      let committedAt = 0;
      let killedAt = 0;
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      let commits = 0;
      try {
        commits = await waitForCommitSince(`writer ${report.kills + 1}`, child, before, catalog, lake, () => cdcProgress(bed.pg, bed.warehouse, child.pid));
        committedAt = Date.now();
        await opts.afterCommit?.(child, report.kills + 1);
        await sleep(Math.random() * opts.spreadMs);
      } finally {
        killedAt = Date.now();
        child.kill("SIGKILL");
        await exited;
      }
      const pending = load.lastCommitLsn;
      const midStream = (await icebergLsn(bed, opts.watch)) <= pending;
      report.kills++;
      if (midStream) report.midStream++;
      report.detail.push({ commits, midStream, pid: child.pid!, startedAt, committedAt, killedAt });
      opts.onKill?.(report.detail[report.detail.length - 1], report.kills);
    }
  } finally {
    await lake.end();
  }
  return report;
}

/** Per table of a SQL catalog (`lake`: a client on its database): its current snapshot id ("" before the first). */
export async function tableSnapshots(catalog: SqlCatalog, lake: Client): Promise<Map<string, string>> {
  const r = await lake.query("SELECT table_namespace, table_name FROM iceberg_tables WHERE catalog_name = $1", [catalog.name]);
  const out = new Map<string, string>();
  for (const x of r.rows) {
    const m = (await catalog.loadTable({ namespace: String(x.table_namespace).split("."), name: x.table_name })).metadata;
    out.set(x.table_name, String(m["current-snapshot-id"] ?? ""));
  }
  return out;
}

/**
 * Waits until a writer process has committed a snapshot since `before` (tableSnapshots() taken
 * before it started): returns how many tables it changed. Ends at once when the process exits or
 * `stop()` says so (then returns 0); fails when `progress` did not advance for the default idle time.
 */
export async function waitForCommitSince(
  name: string,
  child: ChildProcess,
  before: Map<string, string>,
  catalog: SqlCatalog,
  lake: Client,
  progress: () => Promise<Progress>,
  stop: () => boolean = () => false,
): Promise<number> {
  return waitUntil(
    `${name} (pid ${child.pid}) to commit a snapshot after it started`,
    async () => {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new GiveUp(`the writer exited by itself (code ${child.exitCode}, signal ${child.signalCode})`);
      if (stop()) return 0;
      const now = await tableSnapshots(catalog, lake);
      const changed = [...now].filter(([t, id]) => id !== "" && before.get(t) !== id).length;
      return changed > 0 ? changed : undefined;
    },
    { progress, everyMs: 50 },
  );
}

export interface OnceReport {
  /** Changelog rows checked (events + counters). */
  changes: number;
  /** Changes missing: events ids ("events:17") and counter values ("counters 2:41"). */
  lost: string[];
  /** Changes that appear more than once. */
  duplicated: string[];
  /**
   * Counter updates whose transaction committed exactly at the consistent point of a slot a copy of
   * counters was taken at (their _lsn is a copy row's): the copy's boundary (runtime/cdc/snapshot.ts copiedThrough), met.
   */
  atCopyPoint: number;
}

/**
 * Every change exactly once, read by chdb: the events changelog holds every events row of Postgres
 * once, and the counters changelog holds, per client, one row for its copied value and one update
 * row for every value after it up to its final value, each exactly once (a lost intermediate
 * update, which a mirror comparison cannot see, shows as a missing value). Waits until the
 * changelogs have caught up with the final counters, then asserts nothing lost, nothing duplicated.
 */
export async function expectExactlyOnce(bed: CdcBed, finals: number[], opts: { pid?: number } = {}): Promise<OnceReport> {
  const report = await checkExactlyOnce(bed, finals, opts);
  const { lost, duplicated } = report;
  expect({ lost: lost.length, duplicated: duplicated.length, examples: [...lost.slice(0, 5), ...duplicated.slice(0, 5)] }).toEqual({
    lost: 0,
    duplicated: 0,
    examples: [],
  });
  return report;
}

/** expectExactlyOnce's check, without jest: returns what was lost and duplicated (the chaos bench). */
export async function checkExactlyOnce(bed: CdcBed, finals: number[], opts: { pid?: number } = {}): Promise<OnceReport> {
  let rows: { client: number; n: number; op: string; lsn: string }[] = [];
  const server = await bed.pg.connect();
  try {
    await waitUntil(
      `the counters changelog to reach the final counters ${JSON.stringify(finals)}`,
      async () => {
        rows = (await bed.icebergRows("counters"))
          .map((l) => JSON.parse(l))
          .map((r) => ({ client: Number(r.client), n: Number(r.n), op: String(r._op), lsn: String(r._lsn) }));
        return finals.every((f, i) => rows.some((r) => r.client === i + 1 && r.n >= f));
      },
      { everyMs: 500, progress: async () => ({ changelogRows: rows.length, ...(await cdcProgress(server, bed.warehouse, opts.pid)) }) },
    );
  } finally {
    await server.end().catch(() => undefined);
  }
  const lost: string[] = [];
  const duplicated: string[] = [];
  // events: Postgres ids against Iceberg ids. Each table is its own Iceberg commit, so the events
  // changelog may still be behind the counters': wait while it advances (a row that never comes
  // is then reported lost).
  const pgIds = (await bed.pg.sql("SELECT id::text AS id FROM events", [], "app")).map((r) => String(r.id));
  const iceIds = new Map<string, number>();
  const readEvents = async () => {
    iceIds.clear();
    for (const l of await bed.icebergRows("events")) {
      const id = String(JSON.parse(l).id);
      iceIds.set(id, (iceIds.get(id) ?? 0) + 1);
    }
    return pgIds.every((id) => iceIds.has(id));
  };
  await waitUntil(`the events changelog to hold the ${pgIds.length} events rows of Postgres`, readEvents, {
    everyMs: 500,
    progress: () => ({ eventsIds: iceIds.size }),
  }).catch((e) => {
    if (!(e instanceof WaitStalled)) throw e; // stalled: what is missing is reported below
  });
  for (const id of pgIds) if (!iceIds.has(id)) lost.push(`events:${id}`);
  for (const [id, k] of iceIds) if (k > 1) duplicated.push(`events:${id} x${k}`);
  const pgSet = new Set(pgIds);
  for (const id of iceIds.keys()) if (!pgSet.has(id)) duplicated.push(`events:${id} (not in Postgres)`);
  finals.forEach((final, i) => {
    const client = i + 1;
    const mine = rows.filter((r) => r.client === client);
    const copied = mine.filter((r) => r.op === "R").map((r) => r.n);
    if (copied.length !== 1) duplicated.push(`counters ${client}: ${copied.length} copy rows`);
    const from = copied.length ? Math.min(...copied) : 0;
    const seen = new Map<number, number>();
    for (const r of mine) seen.set(r.n, (seen.get(r.n) ?? 0) + 1);
    for (let n = from; n <= final; n++) {
      const k = seen.get(n) ?? 0;
      if (k === 0) lost.push(`counters ${client}:${n}`);
      if (k > 1) duplicated.push(`counters ${client}:${n} x${k}`);
    }
    for (const n of seen.keys()) if (n < from || n > final) duplicated.push(`counters ${client}:${n} (outside ${from}..${final})`);
  });
  const copyPoints = new Set(rows.filter((r) => r.op === "R").map((r) => r.lsn));
  const atCopyPoint = rows.filter((r) => r.op !== "R" && copyPoints.has(r.lsn)).length;
  return { changes: [...iceIds.values()].reduce((a, b) => a + b, 0) + rows.length, lost, duplicated, atCopyPoint };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
