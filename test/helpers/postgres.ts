/**
 * Integration-test harness: a real Postgres cluster (embedded binaries, run as an unprivileged
 * user when we are root) on a free 127.0.0.1 port in a temp dir; stop() removes everything.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { ClusterSpec, initCluster, startCluster, stopCluster } from "../../runtime/local/postgres";
import { freePort, handOver } from "../../runtime/local/process";

export interface TestPostgres {
  major: number;
  host: string;
  port: number;
  user: string;
  dataDir: string;
  /** The WAL archive directory (walArchive: true), else undefined. */
  walArchive?: string;
  /** Connection URL for a database (default postgres). */
  url(database?: string): string;
  /** A connected pg Client (caller ends it). */
  connect(database?: string): Promise<Client>;
  /** Run one SQL statement (or several separated by ;) in a fresh connection. */
  sql(text: string, params?: unknown[], database?: string): Promise<any[]>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * @param opts.password the superuser's password: TCP connections then need it (scram-sha-256)
 *   and url() carries it; without, every connection is trusted.
 */
export async function startPostgres(
  opts: { major?: number; settings?: ClusterSpec["settings"]; walArchive?: boolean; password?: string } = {},
): Promise<TestPostgres> {
  const major = opts.major ?? 17;
  const root = mkdtempSync(join(tmpdir(), `floe-pg${major}-`));
  handOver(root);
  const port = await freePort();
  const spec: ClusterSpec = {
    major,
    dataDir: join(root, "data"),
    port,
    password: opts.password,
    settings: { fsync: "off", ...(opts.settings ?? {}) },
    ...(opts.walArchive ? { walArchive: join(root, "wal-archive") } : {}),
  };
  await initCluster(spec);
  await startCluster(spec);
  const auth = opts.password ? `postgres:${encodeURIComponent(opts.password)}` : "postgres";
  const url = (database = "postgres") => `postgres://${auth}@127.0.0.1:${port}/${database}`;
  const connect = async (database?: string) => {
    const c = new Client({ connectionString: url(database) });
    await c.connect();
    return c;
  };
  return {
    major,
    host: "127.0.0.1",
    port,
    user: "postgres",
    dataDir: spec.dataDir,
    walArchive: spec.walArchive,
    url,
    connect,
    async sql(text, params, database) {
      const c = await connect(database);
      try {
        return (await c.query(text, params as any[])).rows;
      } finally {
        await c.end();
      }
    },
    async restart() {
      await stopCluster(spec);
      await startCluster(spec);
    },
    async stop() {
      try {
        // instance branches a test left (data.branches/<name>/data): their servers too
        const store = `${spec.dataDir}.branches`;
        for (const name of existsSync(store) ? readdirSync(store) : []) {
          const dataDir = join(store, name, "data");
          if (existsSync(join(dataDir, "PG_VERSION"))) await stopCluster({ major, dataDir }, "immediate").catch(() => undefined);
        }
        await stopCluster(spec, "immediate");
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
}
