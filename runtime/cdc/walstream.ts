/**
 * The transport of a logical replication stream: START_REPLICATION on a replication connection
 * (node-postgres), the XLogData and primary keepalive messages of its COPY BOTH stream, and the
 * standby status updates sent back.
 * https://www.postgresql.org/docs/current/protocol-replication.html
 *
 * Messages are handed to the handler one at a time, in order, synchronously while the handler
 * stays synchronous. A handler that returns a promise pauses the socket until it settles
 * (backpressure); the messages already read wait in a queue, decoded (the protocol parser reuses
 * its buffer, so nothing may keep a view of it). There is no promise per message: at a few hundred
 * thousand changes a second an async handler per message (pg-logical-replication's flow control)
 * cost about a fifth of the writer's CPU.
 */
import { Client, ClientConfig } from "pg";

export interface WalStreamHandlers<M> {
  /** Decodes an XLogData payload when it arrives (the payload is a view of the parser's buffer: copy what you keep). */
  decode(payload: Buffer): M;
  /** One decoded message and the WAL position it starts at. A returned promise pauses the stream until it settles. */
  data(msg: M, walStart: bigint): Promise<void> | void;
  /** A primary keepalive: the server's WAL end, and whether no message waits to be handled (`drained`). */
  keepalive(walEnd: bigint, drained: boolean, replyRequested: boolean): void;
  /** The connection failed, or the handler threw or rejected (the stream goes on with the next message, as the caller decides). */
  error(e: Error): void;
}

/** node-postgres internals this transport needs: the protocol connection under the client, and its socket. */
type Connection = {
  on(event: "copyData", fn: (msg: { chunk: Buffer }) => void): void;
  once(event: "replicationStart", fn: () => void): void;
  sendCopyFromChunk(b: Buffer): void;
  stream?: { pause(): void; resume(): void; destroy(): void };
};

export class WalStream<M> {
  private readonly client: Client;
  private queue: { msg: M; walStart: bigint }[] = [];
  private head = 0;
  /** A handler's promise is pending: messages queue and the socket is paused. */
  private busy = false;
  private stopped = false;
  /** The server is streaming (CopyBothResponse read): before that a status update would break the protocol. */
  private live = false;

  constructor(
    config: ClientConfig,
    private readonly handlers: WalStreamHandlers<M>,
  ) {
    this.client = new Client(config);
  }

  private get connection(): Connection {
    return (this.client as unknown as { connection: Connection }).connection;
  }

  /** Connects and sends `startSql` (a START_REPLICATION command); messages flow until stop(). */
  async start(startSql: string): Promise<void> {
    this.client.on("error", (e) => this.stopped || this.handlers.error(e));
    await this.client.connect();
    this.connection.once("replicationStart", () => (this.live = true));
    this.connection.on("copyData", ({ chunk }) => this.onCopyData(chunk));
    this.client.query(startSql).catch((e: Error) => this.stopped || this.handlers.error(e));
  }

  /** Sends a message on the stream (a standby status update); false when the stream is not (or no longer) open. */
  send(msg: Buffer): boolean {
    if (this.stopped || !this.live) return false;
    try {
      this.connection.sendCopyFromChunk(msg);
      return true;
    } catch {
      return false;
    }
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /**
   * Ends the connection. A paused COPY BOTH stream (backpressure) can keep a clean end from ever
   * completing: it gets `graceMs`, then the socket is dropped (the server releases the slot when
   * the socket closes).
   */
  async stop(graceMs = 2000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.queue = [];
    this.head = 0;
    const socket = this.connection?.stream;
    await Promise.race([this.client.end().catch(() => undefined), new Promise((r) => setTimeout(r, graceMs).unref())]);
    socket?.destroy();
  }

  private onCopyData(chunk: Buffer): void {
    if (this.stopped) return;
    if (chunk[0] === 0x77 /* w: XLogData */) {
      const walStart = chunk.readBigUInt64BE(1);
      let msg: M;
      try {
        msg = this.handlers.decode(chunk.subarray(25));
      } catch (e) {
        this.handlers.error(e as Error);
        return;
      }
      if (this.busy) this.queue.push({ msg, walStart });
      else this.handle(msg, walStart);
    } else if (chunk[0] === 0x6b /* k: primary keepalive */) {
      this.handlers.keepalive(chunk.readBigUInt64BE(1), !this.busy, chunk[17] === 1);
    }
  }

  /** Hands one message over; true when the handler went asynchronous (the stream is now paused). */
  private handle(msg: M, walStart: bigint): boolean {
    let pending: Promise<void> | void;
    try {
      pending = this.handlers.data(msg, walStart);
    } catch (e) {
      this.handlers.error(e as Error);
      return false;
    }
    if (!pending) return false;
    if (!this.busy) {
      this.busy = true;
      this.connection.stream?.pause();
    }
    pending.then(
      () => this.drain(),
      (e: Error) => {
        this.handlers.error(e);
        this.drain();
      },
    );
    return true;
  }

  /** Hands over the queued messages, then resumes the socket. */
  private drain(): void {
    while (this.head < this.queue.length && !this.stopped) {
      const { msg, walStart } = this.queue[this.head++];
      if (this.handle(msg, walStart)) return;
    }
    this.queue = [];
    this.head = 0;
    this.busy = false;
    if (!this.stopped) this.connection.stream?.resume();
  }
}
