/**
 * The pgBouncer admin console (the `pgbouncer` database): PAUSE, RESUME, RELOAD, SET, SHOW. One
 * client for the upgrade orchestrator, the local target and the tests. The console speaks the simple
 * query protocol only, which node-postgres uses for plain queries.
 */
import { Client } from "pg";

/** Where the console is: a URL (postgres://user:password@host:port/pgbouncer) or its parts. */
export type AdminTarget = string | { host?: string; port: number; user: string; password: string };

/** The console URL of a pgBouncer on `host:port` (127.0.0.1 by default). */
export function adminUrl(t: { host?: string; port: number; user: string; password: string }): string {
  return `postgresql://${encodeURIComponent(t.user)}:${encodeURIComponent(t.password)}@${t.host ?? "127.0.0.1"}:${t.port}/pgbouncer`;
}

export class PgBouncerAdmin {
  private readonly url: string;

  constructor(target: AdminTarget) {
    this.url = typeof target === "string" ? target : adminUrl(target);
  }

  private async connect(): Promise<Client> {
    const c = new Client({ connectionString: this.url });
    c.on("error", () => undefined);
    await c.connect();
    return c;
  }

  /** One console command; its rows. */
  async command(sql: string): Promise<Record<string, any>[]> {
    const c = await this.connect();
    try {
      return (await c.query(sql)).rows ?? [];
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  /**
   * PAUSE one database; resolves once every server connection is released. Past `timeoutMs` it
   * RESUMEs the database and rejects (a client holds a server connection: a long transaction).
   */
  async pause(db: string, timeoutMs: number): Promise<void> {
    const c = await this.connect();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        c.query(`PAUSE ${db}`),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`PAUSE ${db} did not complete within ${timeoutMs} ms: a client holds a server connection (long transaction?)`)),
            timeoutMs,
          );
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

  /** RESUME one database; a database that is not paused is fine. */
  async resume(db: string): Promise<void> {
    try {
      await this.command(`RESUME ${db}`);
    } catch (e) {
      if (!/not paused/i.test((e as Error).message)) throw e;
    }
  }

  /** Re-read pgbouncer.ini. */
  async reload(): Promise<void> {
    await this.command("RELOAD");
  }

  /** A setting's value as SHOW CONFIG reports it; throws when pgBouncer has no such setting. */
  async setting(key: string): Promise<string> {
    const r = (await this.command("SHOW CONFIG")).find((x) => x.key === key);
    if (!r) throw new Error(`pgBouncer SHOW CONFIG has no ${key}`);
    return String(r.value);
  }

  async set(key: string, value: string | number): Promise<void> {
    await this.command(`SET ${key} = ${value}`);
  }

  /** Databases pgBouncer reports as paused. */
  async pausedDatabases(): Promise<string[]> {
    return (await this.command("SHOW DATABASES")).filter((r) => Number(r.paused) === 1).map((r) => r.name);
  }
}
