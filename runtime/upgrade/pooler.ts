/**
 * pgBouncer control for the cutover: the admin console (PAUSE / RESUME / RELOAD / SET / SHOW) and
 * the [databases] entry in pgbouncer.ini that RELOAD re-reads, both through floe's one pgBouncer
 * module (runtime/pgbouncer: config.ts, admin.ts; a local pgBouncer process is process.ts).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { PgBouncerAdmin } from "../pgbouncer/admin";
import { entryTarget, repointDatabase, type DbTarget } from "../pgbouncer/config";

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
  private readonly admin: PgBouncerAdmin;

  constructor(
    /** admin console URL, e.g. postgres://pgbouncer@127.0.0.1:6432/pgbouncer */
    adminUrl: string,
    /** pgbouncer.ini that RELOAD re-reads */
    private readonly iniPath: string,
  ) {
    this.admin = new PgBouncerAdmin(adminUrl);
  }

  command(sql: string): Promise<Record<string, any>[]> {
    return this.admin.command(sql);
  }

  pause(db: string, timeoutMs: number): Promise<void> {
    return this.admin.pause(db, timeoutMs);
  }

  resume(db: string): Promise<void> {
    return this.admin.resume(db);
  }

  async getQueryWaitTimeout(): Promise<number> {
    return Number(await this.admin.setting("query_wait_timeout"));
  }

  async setQueryWaitTimeout(seconds: number): Promise<void> {
    await this.admin.set("query_wait_timeout", Math.max(0, Math.round(seconds)));
  }

  async target(db: string): Promise<DbTarget> {
    const t = entryTarget(readFileSync(this.iniPath, "utf8"), db);
    if (t === null) throw new Error(`${this.iniPath} has no [databases] entry "${db}"`);
    return t;
  }

  async repoint(db: string, target: DbTarget): Promise<void> {
    const text = readFileSync(this.iniPath, "utf8");
    writeFileSync(this.iniPath, repointDatabase(text, db, target));
    await this.admin.reload();
  }

  paused(): Promise<string[]> {
    return this.admin.pausedDatabases();
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
      if (t.host !== main.host || t.port !== main.port || t.dbname !== main.dbname)
        await this.inner.repoint(a, { host: main.host, port: main.port, dbname: main.dbname });
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
