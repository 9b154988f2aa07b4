/**
 * A CDC test bed: a real source Postgres, the SQL catalog in a second database of the same
 * server, a temp warehouse, and a writer running in-process (or as a `floe cdc run` child).
 */
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "pg";
import { createLogger } from "../../runtime/core/log";
import { CdcConfig, CdcConfigInput, parseCdcConfig } from "../../runtime/cdc/config";
import { CdcWriter, lsnKey } from "../../runtime/cdc/writer";
import { SqlCatalog, Table } from "../../runtime/iceberg";
import { lines, readIceberg, readPostgres } from "./compare";
import { startPostgres, TestPostgres } from "./postgres";

export interface CdcBed {
  pg: TestPostgres;
  warehouse: string;
  config(overrides?: Partial<CdcConfigInput>): CdcConfig;
  configFile(overrides?: Partial<CdcConfigInput>): string;
  /** Starts an in-process writer; resolves once it streams. */
  startWriter(overrides?: Partial<CdcConfigInput>): Promise<RunningWriter>;
  catalog(): Promise<SqlCatalog>;
  /**
   * Waits until the Iceberg table equals the Postgres table (bounded), returns both sides. With
   * `writer`, a writer that failed meanwhile ends the wait at once with its error.
   */
  waitForEqual(table: string, opts?: { timeoutMs?: number; target?: string; source?: string; writer?: RunningWriter }): Promise<{ pg: string[]; ice: string[] }>;
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

export async function startCdcBed(opts: { major?: number; pg?: TestPostgres } = {}): Promise<CdcBed> {
  const pg = opts.pg ?? (await startPostgres({ major: opts.major ?? 17 }));
  await pg.sql("CREATE DATABASE app");
  await pg.sql("CREATE DATABASE lake");
  const warehouse = mkdtempSync(join(tmpdir(), "floe-wh-"));
  const catalogs: SqlCatalog[] = [];
  const writers: RunningWriter[] = [];
  const config = (overrides: Partial<CdcConfigInput> = {}) =>
    parseCdcConfig({
      sources: [{ name: "pg", connectionString: pg.url("app") }],
      catalog: { type: "sql", uri: pg.url("lake") },
      warehouse: `file://${warehouse}`,
      commit: { intervalMs: 100 },
      http: { port: 0 },
      ...overrides,
    });
  const catalog = async () => {
    const c = await SqlCatalog.connect({ name: "floe", url: pg.url("lake"), warehouse: `file://${warehouse}` });
    catalogs.push(c);
    return c;
  };
  const icebergRows = async (target: string) => {
    const t = await Table.load(await catalog(), { namespace: ["floe"], name: target });
    return lines(readIceberg(t.metadata.location, t.schema().fields));
  };
  const bed: CdcBed = {
    pg,
    warehouse,
    config,
    configFile(overrides) {
      const f = join(warehouse, `cdc-${Date.now()}.json`);
      writeFileSync(f, JSON.stringify(config(overrides), (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
      return f;
    },
    catalog,
    async startWriter(overrides) {
      // One writer at a time per bed: a slot serves one reader (an earlier test may have failed before stopping its own).
      for (const w of writers.splice(0)) await w.stop().catch(() => undefined);
      const writer = new CdcWriter(config(overrides), { catalog: await catalog(), log: quietLog });
      const done = writer.run();
      done.catch(() => undefined);
      await writer.ready;
      const running = { writer, done, stop: async () => { await writer.stop(); await done; } };
      writers.push(running);
      return running;
    },
    icebergRows,
    async waitForEqual(table, o = {}) {
      const target = o.target ?? table.split(".").pop()!;
      const deadline = Date.now() + (o.timeoutMs ?? 20_000);
      let last = { pg: [] as string[], ice: [] as string[] };
      for (;;) {
        const pgRows = lines(await readPostgres(pg.url(o.source ?? "app"), table));
        let ice: string[] = [];
        try {
          ice = await icebergRows(target);
        } catch (e) {
          if (Date.now() > deadline) throw e; // not created yet, or unreadable: say why at the end
        }
        last = { pg: pgRows, ice };
        if (JSON.stringify(pgRows) === JSON.stringify(ice)) return last;
        if (o.writer?.writer.status.state === "failed") throw new Error(`the writer failed while waiting for ${table}: ${o.writer.writer.status.error}`);
        if (Date.now() > deadline) return last;
        await new Promise((r) => setTimeout(r, 100));
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

const CLI = join(__dirname, "../../dist/runtime/cli.js");

/** `floe cdc run --config FILE` as a child process (the built CLI: npm test builds it first). */
export function spawnWriter(configFile: string): ChildProcess {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm test does)`);
  return spawn(process.execPath, [CLI, "cdc", "run", "--config", configFile], { stdio: ["ignore", "ignore", process.env.FLOE_TEST_LOG ? "inherit" : "ignore"] });
}

/** Starts the writer and kills it with SIGKILL after minMs..minMs+spreadMs, `kills` times. */
export async function killRepeatedly(configFile: string, kills: number, minMs: number, spreadMs: number): Promise<void> {
  for (let i = 0; i < kills; i++) {
    const child = spawnWriter(configFile);
    await new Promise((r) => setTimeout(r, minMs + Math.random() * spreadMs));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
  }
}

/** An append-only changelog table holds every row of its source exactly once (no duplicate id, as many as in Postgres). */
export async function expectEveryRowOnce(bed: CdcBed, table: string, timeoutMs = 30_000): Promise<void> {
  const [{ n }] = await bed.pg.sql(`SELECT count(*)::int AS n FROM ${table}`, [], "app");
  const deadline = Date.now() + timeoutMs;
  let ids: unknown[] = [];
  for (;;) {
    ids = (await bed.icebergRows(table)).map((l) => JSON.parse(l).id);
    if (ids.length >= n || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(new Set(ids).size).toBe(ids.length);
  expect(ids.length).toBe(n);
}

/**
 * One client making transfers between `accounts` accounts (two updates and two `events` rows per
 * transaction); every `every`-th transaction also runs `extra`, then deletes and re-inserts an
 * account. stop() ends it and returns the number of committed transactions.
 */
export function startTransfers(bed: CdcBed, accounts: number, every: number, extra?: (c: Client, txn: number) => Promise<void>): { stop(): Promise<number> } {
  let writing = true;
  let txns = 0;
  const load = (async () => {
    const c = await bed.pg.connect("app");
    try {
      while (writing) {
        const a = 1 + Math.floor(Math.random() * accounts);
        const b = 1 + Math.floor(Math.random() * accounts);
        const amt = Math.floor(Math.random() * 50);
        await c.query("BEGIN");
        await c.query("UPDATE accounts SET balance = balance - $2, note = 'tx' || $3 WHERE id = $1", [a, amt, txns]);
        await c.query("UPDATE accounts SET balance = balance + $2 WHERE id = $1", [b, amt]);
        await c.query("INSERT INTO events (account, delta) VALUES ($1, $2), ($3, $4)", [a, -amt, b, amt]);
        if (txns % every === 0) {
          await extra?.(c, txns);
          await c.query("DELETE FROM accounts WHERE id = $1", [a]);
          await c.query("INSERT INTO accounts VALUES ($1, 1000, 'reborn')", [a]);
        }
        await c.query("COMMIT");
        txns++;
      }
    } finally {
      await c.end();
    }
  })();
  return {
    async stop() {
      writing = false;
      await load;
      return txns;
    },
  };
}
