/**
 * One Postgres source of the CDC writer: its publication, its logical replication slot, exported
 * snapshots for the initial copy, and the pgoutput stream: its transport (COPY BOTH, keepalives,
 * backpressure) is runtime/cdc/walstream.ts, its decoding runtime/cdc/pgoutput.ts (values keep
 * their exact text form; streamed in-progress transactions are understood).
 */
import { Client, ClientConfig } from "pg";
import type { Logger } from "../core/log";
import { pgConfig, type TlsSettings } from "../core/postgres-tls";
import type { CdcSource } from "./config";
import { slotName } from "./config";
import { ErrorOrigin, postgresOrigin, tagOrigin, withOrigin } from "./errors";
import { formatLsn, parseLsn } from "./lsn";
import { Message, PG_EPOCH_MICROS, PgoutputDecoder, RawTuple } from "./pgoutput";
import { SESSION_OPTIONS } from "./types";
import { WalStream } from "./walstream";

export interface SourceTable {
  schema: string;
  name: string;
}

export const qualified = (t: SourceTable): string => `${t.schema}.${t.name}`;
export const quoteIdent = (s: string): string => `"${s.replace(/"/g, '""')}"`;
export const quoteTable = (t: SourceTable): string => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;

export interface ExportedSnapshot {
  /** LSN at which the snapshot is consistent: changes committed after it are in the stream. */
  consistentPoint: bigint;
  snapshotName: string;
  /** Keeps the snapshot alive; closing it drops a temporary slot. */
  close(): Promise<void>;
}

/**
 * How often to send standby status while streaming: a third of the server's wal_sender_timeout
 * (so two may be lost or late), at most every 10 s (as pg_recvlogical), at least every 100 ms.
 */
export function statusIntervalMs(senderTimeoutMs: number): number {
  if (!(senderTimeoutMs > 0)) return 10_000;
  return Math.max(100, Math.min(10_000, Math.floor(senderTimeoutMs / 3)));
}

export class ReplicationSource {
  readonly slot: string;
  private service?: WalStream<Message<RawTuple>>;
  private serverVersion = 0;
  /** The server's wal_sender_timeout in ms (0: disabled), read with the version. */
  private senderTimeoutMs = 60_000;

  /**
   * @param key names this server's LSN space in Iceberg (`floe.lsn.<key>`): the source's name, or
   *   `<name>~<n>` for the n-th server it followed through a blue/green upgrade.
   */
  constructor(
    readonly config: CdcSource,
    private readonly log: Logger,
    readonly key: string = config.name,
  ) {
    this.slot = slotName(config);
    this.origin = postgresOrigin(`source "${config.name}"`, `the connectionString of source "${config.name}"`, config.connectionString);
  }

  /** Where this source's errors come from (runtime/cdc/errors.ts names it and the setting to fix). */
  readonly origin: ErrorOrigin;

  get name(): string {
    return this.config.name;
  }

  /** What a connection to this source is made of, as plain data (a copy worker thread connects from it too). */
  connectionSettings(): { url: string; tls: TlsSettings; what: string } {
    return { url: this.config.connectionString, tls: { sslmode: this.config.sslmode, sslrootcert: this.config.sslrootcert }, what: `source "${this.name}"` };
  }

  /** node-postgres config: TLS with libpq's sslmode meanings (runtime/core/postgres-tls.ts). */
  clientConfig(replication = false): ClientConfig {
    const c = this.connectionSettings();
    const cfg: ClientConfig = { ...pgConfig(c.url, c.tls, c.what), options: SESSION_OPTIONS };
    if (replication) (cfg as ClientConfig & { replication: string }).replication = "database";
    return cfg;
  }

  async connect(): Promise<Client> {
    return withOrigin(this.origin, async () => {
      const c = new Client(this.clientConfig());
      c.on("error", (e) => this.log.warn("source connection error", { source: this.name, error: e }));
      await c.connect();
      return c;
    });
  }

  async withClient<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    const c = await this.connect();
    try {
      return await withOrigin(this.origin, () => fn(c));
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  async version(): Promise<number> {
    if (!this.serverVersion) {
      await this.withClient(async (c) => {
        const r = await c.query(
          "SELECT current_setting('server_version_num')::int AS v, (SELECT setting::int FROM pg_settings WHERE name = 'wal_sender_timeout') AS t",
        );
        this.serverVersion = Number(r.rows[0].v);
        this.senderTimeoutMs = Number(r.rows[0].t ?? 60_000); // in ms (pg_settings' unit for it)
      });
    }
    return this.serverVersion;
  }

  /** Creates the publication if missing (FOR ALL TABLES, or for the configured tables). */
  async ensurePublication(tables: SourceTable[]): Promise<void> {
    const pub = this.config.publication;
    await this.withClient(async (c) => {
      const found = await c.query("SELECT puballtables FROM pg_publication WHERE pubname = $1", [pub]);
      if (found.rowCount) {
        if (found.rows[0].puballtables || tables.length === 0) return;
        const have = await c.query("SELECT schemaname AS schema, tablename AS name FROM pg_publication_tables WHERE pubname = $1", [pub]);
        const missing = tables.filter((t) => !have.rows.some((h) => h.schema === t.schema && h.name === t.name));
        if (missing.length === 0) return;
        try {
          await c.query(`ALTER PUBLICATION ${quoteIdent(pub)} ADD TABLE ${missing.map(quoteTable).join(", ")}`);
          this.log.info("added tables to publication", { source: this.name, publication: pub, tables: missing.map(qualified) });
        } catch (e) {
          throw new Error(
            `tables ${missing.map(qualified).join(", ")} are configured but not in publication ${pub}, ` +
              `and adding them failed (${(e as Error).message}); as the tables' owner run: ALTER PUBLICATION ${pub} ADD TABLE ${missing.map(quoteTable).join(", ")}`,
            { cause: e },
          );
        }
        return;
      }
      const target = tables.length ? `FOR TABLE ${tables.map(quoteTable).join(", ")}` : "FOR ALL TABLES";
      try {
        await c.query(`CREATE PUBLICATION ${quoteIdent(pub)} ${target}`);
        this.log.info("created publication", { source: this.name, publication: pub, target });
      } catch (e) {
        if ((e as { code?: string }).code === "42710") return; // created concurrently
        throw new Error(
          `publication ${pub} does not exist and cannot be created (${(e as Error).message}); create it as the tables' owner: CREATE PUBLICATION ${pub} ${target}`,
          {
            cause: e,
          },
        );
      }
    });
  }

  /** Tables in the publication. */
  async publishedTables(): Promise<SourceTable[]> {
    return this.withClient(async (c) => {
      const r = await c.query("SELECT schemaname AS schema, tablename AS name FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2", [
        this.config.publication,
      ]);
      return r.rows as SourceTable[];
    });
  }

  /** The slot's confirmed position, or null when the slot does not exist. */
  async slotPosition(): Promise<bigint | null> {
    return this.withClient(async (c) => {
      const r = await c.query("SELECT confirmed_flush_lsn::text AS lsn, plugin FROM pg_replication_slots WHERE slot_name = $1", [this.slot]);
      if (!r.rowCount) return null;
      if (r.rows[0].plugin !== "pgoutput")
        throw new Error(`slot ${this.slot} exists but uses plugin ${r.rows[0].plugin}, not pgoutput: drop it or configure another slot name`);
      return r.rows[0].lsn ? parseLsn(r.rows[0].lsn) : 0n;
    });
  }

  /**
   * Creates a logical slot and exports a snapshot consistent with it. The permanent slot is the
   * writer's; a temporary one gives a consistent copy point for tables added later.
   */
  async createSlot(opts: { temporary: boolean }): Promise<ExportedSnapshot & { slot: string }> {
    const version = await this.version();
    const slot = opts.temporary ? `${this.slot}_copy_${process.pid}_${Date.now() % 1e6}` : this.slot;
    const repl = new Client(this.clientConfig(true));
    repl.on("error", (e) => this.log.warn("snapshot connection error", { source: this.name, error: e }));
    await withOrigin(this.origin, () => repl.connect());
    const temp = opts.temporary ? " TEMPORARY" : "";
    const sql =
      version >= 150000
        ? `CREATE_REPLICATION_SLOT ${quoteIdent(slot)}${temp} LOGICAL pgoutput (SNAPSHOT 'export')`
        : `CREATE_REPLICATION_SLOT ${quoteIdent(slot)}${temp} LOGICAL pgoutput EXPORT_SNAPSHOT`;
    try {
      const r = await repl.query(sql);
      const row = r.rows[0];
      this.log.info("created replication slot", { source: this.name, slot, temporary: opts.temporary, consistentPoint: row.consistent_point });
      return { slot, consistentPoint: parseLsn(row.consistent_point), snapshotName: row.snapshot_name, close: () => repl.end() };
    } catch (e) {
      await repl.end().catch(() => undefined);
      throw tagOrigin(new Error(`cannot create replication slot ${slot}: ${(e as Error).message}`, { cause: e }), this.origin);
    }
  }

  async dropSlot(): Promise<void> {
    await this.withClient((c) => c.query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", [this.slot]));
  }

  /**
   * Streams decoded messages from the slot starting after `from`. The handler is awaited per
   * message (the stream pauses meanwhile: backpressure). Nothing is confirmed to the server
   * except through confirm().
   */
  async stream(
    from: bigint,
    handler: (msg: Message<RawTuple>, walStart: bigint) => Promise<void> | void,
    onError: (e: Error) => void,
    onKeepalive: (walEnd: bigint, drained: boolean) => void = () => undefined,
  ): Promise<void> {
    const version = await this.version();
    if (this.config.origin === "none" && version < 160000) {
      throw new Error(`source ${this.name}: origin "none" needs Postgres 16 or newer (server is ${Math.floor(version / 10000)})`);
    }
    const opts = [`proto_version '${version >= 140000 ? 2 : 1}'`, `publication_names '${this.config.publication}'`];
    if (version >= 140000) opts.push("streaming 'on'", "messages 'true'"); // logical decoding messages carry the upgrade handoff
    if (this.config.origin === "none") opts.push("origin 'none'");
    const decoder = PgoutputDecoder.raw(); // tuples stay bytes until their transaction applies (runtime/cdc/spool.ts)
    const service: WalStream<Message<RawTuple>> = new WalStream(this.clientConfig(true), {
      decode: (payload) => decoder.decode(payload),
      data: handler,
      error: (e) => onError(tagOrigin(e, this.origin)),
      keepalive: (walEnd, drained, replyRequested) => {
        onKeepalive(walEnd, drained);
        if (replyRequested) this.sendStatus();
      },
    });
    this.service = service;
    // Standby status on a timer too, not only in answer to keepalives: while one transaction is
    // applied the stream is paused (backpressure), keepalives wait unread, and a server that hears
    // nothing for wal_sender_timeout drops the connection (a long apply would then restart forever).
    clearInterval(this.statusTimer);
    this.statusTimer = setInterval(() => this.service === service && !service.isStopped && this.sendStatus(), statusIntervalMs(this.senderTimeoutMs));
    this.statusTimer.unref();
    service
      .start(`START_REPLICATION SLOT ${quoteIdent(this.slot)} LOGICAL ${formatLsn(from)} (${opts.join(", ")})`)
      .catch((e: Error) => onError(tagOrigin(e, this.origin)));
  }

  private statusTimer?: NodeJS.Timeout;

  private confirmed = 0n;
  /** Tells the server everything up to `lsn` is durably in Iceberg (it may recycle that WAL). */
  confirm(lsn: bigint): void {
    if (lsn > this.confirmed) this.confirmed = lsn;
    this.sendStatus();
  }

  /**
   * Standby status update with write = flush = apply = the confirmed LSN, exactly (the library's
   * acknowledge() reports lsn + 1, which a walsender in fast shutdown never sees as caught up).
   * Never more than confirm() was given: only what is committed in Iceberg.
   */
  private sendStatus(): void {
    if (!this.service || this.confirmed === 0n) return;
    const msg = Buffer.alloc(34);
    msg.write("r", 0, "latin1");
    msg.writeBigUInt64BE(this.confirmed, 1);
    msg.writeBigUInt64BE(this.confirmed, 9);
    msg.writeBigUInt64BE(this.confirmed, 17);
    msg.writeBigInt64BE(BigInt(Date.now()) * 1000n - PG_EPOCH_MICROS, 25);
    msg.writeUInt8(0, 33);
    this.service.send(msg); // false: connection gone, the restart path re-reads the slot
  }

  async stop(): Promise<void> {
    clearInterval(this.statusTimer);
    const s = this.service;
    this.service = undefined;
    await s?.stop();
  }
}
