/**
 * pgBouncer control for the cutover: the admin console (PAUSE / RESUME / RELOAD / SET / SHOW) and
 * the [databases] entry in pgbouncer.ini that RELOAD re-reads. Starting and stopping a local
 * pgBouncer is runtime/local/pgbouncer.ts (the local target, the tests and the bench use it).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { Client } from "pg";
import { databaseEntry, DbTarget, parseConnString, repointDatabase } from "./plan";

export interface PoolerControl {
  /** PAUSE one database; resolves when every server connection is released. Rejects after timeoutMs (and then RESUMEs). */
  pause(db: string, timeoutMs: number): Promise<void>;
  resume(db: string): Promise<void>;
  /** query_wait_timeout in seconds */
  getQueryWaitTimeout(): Promise<number>;
  setQueryWaitTimeout(seconds: number): Promise<void>;
  /** Where the database entry points now. */
  target(db: string): Promise<DbTarget>;
  /** Rewrite the database entry and RELOAD. */
  repoint(db: string, target: DbTarget): Promise<void>;
  /** Databases pgBouncer reports as paused. */
  paused(): Promise<string[]>;
}

export class PgBouncerControl implements PoolerControl {
  constructor(
    /** admin console URL, e.g. postgres://pgbouncer@127.0.0.1:6432/pgbouncer */
    private readonly adminUrl: string,
    /** pgbouncer.ini that RELOAD re-reads */
    private readonly iniPath: string,
  ) {}

  private async admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    const c = new Client({ connectionString: this.adminUrl });
    c.on("error", () => undefined);
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  async command(sql: string): Promise<any[]> {
    return this.admin(async (c) => (await c.query(sql)).rows);
  }

  async pause(db: string, timeoutMs: number): Promise<void> {
    const c = new Client({ connectionString: this.adminUrl });
    c.on("error", () => undefined);
    await c.connect();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        c.query(`PAUSE ${db}`),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`PAUSE ${db} did not complete within ${timeoutMs} ms: a client holds a server connection (long transaction?)`)), timeoutMs);
        }),
      ]);
    } catch (e) {
      await this.resume(db).catch(() => undefined);
      throw e;
    } finally {
      clearTimeout(timer);
      await c.end().catch(() => undefined);
    }
  }

  async resume(db: string): Promise<void> {
    try {
      await this.command(`RESUME ${db}`);
    } catch (e) {
      // "database X is not paused" is what we want anyway
      if (!/not paused/i.test((e as Error).message)) throw e;
    }
  }

  async getQueryWaitTimeout(): Promise<number> {
    const rows = await this.command("SHOW CONFIG");
    const r = rows.find((x) => x.key === "query_wait_timeout");
    if (!r) throw new Error("pgBouncer SHOW CONFIG has no query_wait_timeout");
    return Number(r.value);
  }

  async setQueryWaitTimeout(seconds: number): Promise<void> {
    await this.command(`SET query_wait_timeout = ${Math.max(0, Math.round(seconds))}`);
  }

  async target(db: string): Promise<DbTarget> {
    const entry = databaseEntry(readFileSync(this.iniPath, "utf8"), db);
    if (entry === null) throw new Error(`${this.iniPath} has no [databases] entry "${db}"`);
    const kv = parseConnString(entry);
    return { host: kv.host ?? "127.0.0.1", port: Number(kv.port ?? 5432), dbname: kv.dbname ?? db, user: kv.user };
  }

  async repoint(db: string, target: DbTarget): Promise<void> {
    const text = readFileSync(this.iniPath, "utf8");
    writeFileSync(this.iniPath, repointDatabase(text, db, target));
    await this.command("RELOAD");
  }

  async paused(): Promise<string[]> {
    const rows = await this.command("SHOW DATABASES");
    return rows.filter((r) => Number(r.paused) === 1).map((r) => r.name);
  }
}

/**
 * One server behind several [databases] entries (the local target's shard 0 is both "app" and
 * "app_shard0"): the entries pause, resume and move together, so that no client reaches the old
 * primary through an alias after the cutover. `aliases` maps an entry to the others that follow it.
 */
export class GroupedPoolerControl implements PoolerControl {
  constructor(
    private readonly inner: PoolerControl,
    private readonly aliases: Record<string, string[]>,
  ) {}

  private entries(db: string): string[] {
    return [db, ...(this.aliases[db] ?? []).filter((a) => a !== db)];
  }

  async pause(db: string, timeoutMs: number): Promise<void> {
    const done: string[] = [];
    try {
      for (const e of this.entries(db)) {
        await this.inner.pause(e, timeoutMs);
        done.push(e);
      }
    } catch (err) {
      for (const e of done) await this.inner.resume(e).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Before resuming, every alias is made to point where the named entry points. A run that stopped
   * between repointing the aliases and the named entry is recovered by RESUME, then by what the
   * named entry says (switched or not): clients of an alias must never reach the other server.
   */
  async resume(db: string): Promise<void> {
    await this.align(db);
    let first: unknown;
    for (const e of this.entries(db)) await this.inner.resume(e).catch((err) => (first ??= err));
    if (first) throw first;
  }

  private async align(db: string): Promise<void> {
    const aliases = this.entries(db).slice(1);
    if (!aliases.length) return;
    const main = await this.inner.target(db);
    for (const a of aliases) {
      const t = await this.inner.target(a);
      if (t.host !== main.host || t.port !== main.port || t.dbname !== main.dbname) await this.inner.repoint(a, { host: main.host, port: main.port, dbname: main.dbname });
    }
  }

  getQueryWaitTimeout(): Promise<number> {
    return this.inner.getQueryWaitTimeout();
  }

  setQueryWaitTimeout(seconds: number): Promise<void> {
    return this.inner.setQueryWaitTimeout(seconds);
  }

  target(db: string): Promise<DbTarget> {
    return this.inner.target(db);
  }

  /** The aliases first, the named entry last: the entry the state file checks moves only once the others did. */
  async repoint(db: string, target: DbTarget): Promise<void> {
    const all = this.entries(db);
    for (const e of [...all.slice(1), all[0]]) await this.inner.repoint(e, target);
  }

  paused(): Promise<string[]> {
    return this.inner.paused();
  }
}
