/**
 * A fault-injection TCP proxy for integration tests and the chaos run. It sits between the writer
 * and a real server (Postgres for SQL and replication connections, the SQL catalog's Postgres, the
 * Iceberg REST catalog, moto S3), forwards bytes both ways, and injects real network faults when
 * the test says so:
 *
 * - `arm(rule)`: when a request matches (Postgres: the SQL text of a Query or Parse message; HTTP:
 *   "METHOD /path"), one of
 *   - `drop-reply`: forward the request, swallow the server's whole reply (recorded: e.g.
 *     "UPDATE 1" or "HTTP 200"), then reset the connection: the server acted, the client never knows;
 *   - `reset-before`: reset the connection instead of forwarding the request (the server never sees it);
 *   - `reset-after`: forward the request, then reset at once (the server may or may not act);
 *   - `stall`: forward the request, then hold every byte of that connection until `release()`.
 *   A rule may also make the server unreachable the moment it fires (`thenRefuse`): new
 *   connections are refused and every other open connection is reset (a client's pooled keep-alive
 *   connection would otherwise carry its re-check to the server), so that the client's re-check
 *   finds the server unreachable.
 * - `refuse()` / `accept()`: new connections are reset on accept (counted in `refused`) or, with
 *   `{ close: true }`, the port stops listening (ECONNREFUSED).
 * - `resetAll()`: resets every open connection. `stallAll()` / `release()`: hold / deliver traffic.
 * - `slow(ms)`: every chunk waits `ms` before it is forwarded (order kept).
 * - `watch(rule)`: a rule on what the server sends (Postgres: message type; replication CopyData
 *   shows the pgoutput message, e.g. "xlog:C" for a commit) that resets the connection.
 *
 * Every fault is recorded in `faults` (which rule, which request, what the server answered), so a
 * test asserts that each fault hit the moment it aimed at.
 */
import { AddressInfo, createServer, Server, Socket, connect } from "node:net";

export type Protocol = "postgres" | "http";
export type FaultAction = "drop-reply" | "reset-before" | "reset-after" | "stall";

export interface FaultRule {
  /** A label for the record. */
  name: string;
  /** Postgres: SQL text of a Query/Parse message. HTTP: "METHOD /path?query". */
  match: RegExp | ((request: string) => boolean);
  action: FaultAction;
  /** Fire on this many matches (default 1), then the rule is spent. */
  times?: number;
  /** Let this many matches pass first (default 0). */
  skip?: number;
  /** Fire on a match with this probability (default 1): chaos runs. */
  probability?: number;
  /**
   * Make the server unreachable when the rule fires: refuse new connections (reset on accept) and
   * reset every other open connection, before this one's own fault plays out.
   */
  thenRefuse?: boolean;
}

export interface ServerRule {
  name: string;
  /** Postgres: a backend message ("C UPDATE 1", "Z", "xlog:C" for a pgoutput commit in CopyData). */
  match: RegExp | ((message: string) => boolean);
  times?: number;
  skip?: number;
}

export interface FaultRecord {
  proxy: string;
  rule: string;
  action: FaultAction | "server-reset";
  /** The request that matched (or the server message, for watch rules). */
  request: string;
  /** What the server answered and the client never got (drop-reply): "UPDATE 1", "HTTP 200", "ERROR: …". */
  reply?: string;
  at: number;
}

interface Armed {
  rule: FaultRule;
  seen: number;
  fired: number;
  waiters: ((r: FaultRecord) => void)[];
}

interface Watched {
  rule: ServerRule;
  seen: number;
  fired: number;
  waiters: ((r: FaultRecord) => void)[];
}

const PG_SSL_REQUEST = 80877103;
const PG_GSS_REQUEST = 80877104;
const PG_CANCEL_REQUEST = 80877102;

/** A parsed client→server unit: its bytes, and the request text when it starts a request. */
interface Frame {
  bytes: Buffer;
  /** SQL (Postgres Query/Parse) or "METHOD /path" (HTTP head): what rules match on. */
  request?: string;
  /** Postgres: the frame ends a request (Query or Sync), so the server's ReadyForQuery answers it. */
  endsRequest?: boolean;
}

/** Frames Postgres frontend messages (startup, then typed messages). */
class PgFrontend {
  private buf: Buffer = Buffer.alloc(0);
  private startup = true;
  /** The client asked for SSL/GSS: the server answers one byte first. */
  sslAsked = 0;
  opaque = false;

  push(chunk: Buffer): Frame[] {
    if (this.opaque) return [{ bytes: chunk }];
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    for (;;) {
      if (this.startup) {
        if (this.buf.length < 8) break;
        const len = this.buf.readInt32BE(0);
        if (this.buf.length < len) break;
        const code = this.buf.readInt32BE(4);
        out.push({ bytes: this.buf.subarray(0, len) });
        this.buf = this.buf.subarray(len);
        if (code === PG_SSL_REQUEST || code === PG_GSS_REQUEST) this.sslAsked++;
        else if (code !== PG_CANCEL_REQUEST) {
          this.startup = false;
          out[out.length - 1].endsRequest = true; // the server's first ReadyForQuery answers the startup
        }
        continue;
      }
      if (this.buf.length < 5) break;
      const len = this.buf.readInt32BE(1);
      if (this.buf.length < 1 + len) break;
      const bytes = this.buf.subarray(0, 1 + len);
      this.buf = this.buf.subarray(1 + len);
      const type = String.fromCharCode(bytes[0]);
      const frame: Frame = { bytes };
      if (type === "Q") {
        frame.request = cstring(bytes, 5).text;
        frame.endsRequest = true;
      } else if (type === "P") {
        const name = cstring(bytes, 5);
        frame.request = cstring(bytes, name.next).text;
      } else if (type === "S") frame.endsRequest = true;
      out.push(frame);
    }
    return out;
  }

  /** TLS/GSS was accepted: the rest is encrypted, forward it as it comes. */
  goOpaque(): Buffer {
    this.opaque = true;
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    return rest;
  }
}

/** Frames Postgres backend messages; describes each as "T detail" for server rules and records. */
class PgBackend {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly front: PgFrontend) {}

  push(chunk: Buffer): { bytes: Buffer; text: string; ready?: boolean; sslAnswer?: string }[] {
    if (this.front.opaque) return [{ bytes: chunk, text: "" }];
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: { bytes: Buffer; text: string; ready?: boolean; sslAnswer?: string }[] = [];
    for (;;) {
      if (this.front.sslAsked > 0) {
        if (this.buf.length < 1) break;
        this.front.sslAsked--;
        const answer = String.fromCharCode(this.buf[0]);
        out.push({ bytes: this.buf.subarray(0, 1), text: `ssl:${answer}`, sslAnswer: answer });
        this.buf = this.buf.subarray(1);
        if (answer === "S" || answer === "G") {
          if (this.buf.length) out.push({ bytes: this.buf, text: "" });
          this.buf = Buffer.alloc(0);
          return out;
        }
        continue;
      }
      if (this.buf.length < 5) break;
      const len = this.buf.readInt32BE(1);
      if (this.buf.length < 1 + len) break;
      const bytes = this.buf.subarray(0, 1 + len);
      this.buf = this.buf.subarray(1 + len);
      out.push({ bytes, text: describeBackend(bytes), ready: bytes[0] === 0x5a });
    }
    return out;
  }
}

function describeBackend(b: Buffer): string {
  const type = String.fromCharCode(b[0]);
  if (type === "C") return `C ${cstring(b, 5).text}`;
  if (type === "E") {
    const fields: Record<string, string> = {};
    for (let i = 5; i < b.length && b[i] !== 0;) {
      const code = String.fromCharCode(b[i]);
      const v = cstring(b, i + 1);
      fields[code] = v.text;
      i = v.next;
    }
    return `E ${fields.S ?? "ERROR"}: ${fields.M ?? ""}`;
  }
  // CopyData of a replication stream: XLogData ('w', 24-byte header) carries a pgoutput message.
  if (type === "d" && b.length > 5 + 25 && b[5] === 0x77) return `xlog:${String.fromCharCode(b[5 + 25])}`;
  return type;
}

function cstring(b: Buffer, at: number): { text: string; next: number } {
  const end = b.indexOf(0, at);
  const stop = end < 0 ? b.length : end;
  return { text: b.toString("utf8", at, stop), next: stop + 1 };
}

/** Frames HTTP/1.1 requests: the head (matched on) and the body (Content-Length or chunked). */
class HttpFrontend {
  private buf: Buffer = Buffer.alloc(0);
  private state: "head" | "body" | "chunk-size" | "chunk-data" | "chunk-crlf" | "trailer" = "head";
  private remaining = 0;

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    for (;;) {
      if (this.state === "head") {
        const end = this.buf.indexOf("\r\n\r\n");
        if (end < 0) break;
        const bytes = this.buf.subarray(0, end + 4);
        this.buf = this.buf.subarray(end + 4);
        const lines = bytes.toString("latin1").split("\r\n");
        const [method, target] = lines[0].split(" ");
        const headers = new Map<string, string>();
        for (const l of lines.slice(1)) {
          const i = l.indexOf(":");
          if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
        }
        const frame: Frame = { bytes, request: `${method} ${target}` };
        out.push(frame);
        if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) this.state = "chunk-size";
        else {
          this.remaining = Number(headers.get("content-length") ?? 0);
          this.state = this.remaining > 0 ? "body" : "head";
          frame.endsRequest = this.remaining === 0;
        }
        continue;
      }
      if (this.state === "body" || this.state === "chunk-data") {
        if (!this.buf.length) break;
        const n = Math.min(this.remaining, this.buf.length);
        const frame: Frame = { bytes: this.buf.subarray(0, n) };
        out.push(frame);
        this.buf = this.buf.subarray(n);
        this.remaining -= n;
        if (this.remaining === 0) {
          frame.endsRequest = this.state === "body";
          this.state = this.state === "body" ? "head" : "chunk-crlf";
        }
        continue;
      }
      // chunk framing lines: "size\r\n", "\r\n" after data, trailers until an empty line
      const eol = this.buf.indexOf("\r\n");
      if (eol < 0) break;
      const line = this.buf.toString("latin1", 0, eol);
      const frame: Frame = { bytes: this.buf.subarray(0, eol + 2) };
      out.push(frame);
      this.buf = this.buf.subarray(eol + 2);
      if (this.state === "chunk-size") {
        const size = parseInt(line.split(";")[0], 16);
        if (size === 0) this.state = "trailer";
        else {
          this.remaining = size;
          this.state = "chunk-data";
        }
      } else if (this.state === "chunk-crlf") this.state = "chunk-size";
      else if (line === "") {
        this.state = "head"; // end of trailers: the request is complete
        frame.endsRequest = true;
      }
    }
    return out;
  }
}

/** Finds the final response head (skipping 1xx) in what the server sends. */
class HttpBackend {
  private buf: Buffer = Buffer.alloc(0);
  /** Returns interim (1xx) heads to forward, and the final status once its head is complete. */
  push(chunk: Buffer): { interim: Buffer[]; status?: string } {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const interim: Buffer[] = [];
    for (;;) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return { interim };
      const head = this.buf.subarray(0, end + 4);
      this.buf = this.buf.subarray(end + 4);
      const statusLine = head.toString("latin1", 0, head.indexOf("\r\n"));
      const code = Number(statusLine.split(" ")[1]);
      if (code >= 100 && code < 200) {
        interim.push(head);
        continue;
      }
      return { interim, status: `HTTP ${code}` };
    }
  }
}

type ConnState = "forward" | "swallow" | "stalled" | "dead";

class Conn {
  state: ConnState = "forward";
  readonly front: PgFrontend | HttpFrontend;
  private readonly pgBack?: PgBackend;
  private httpBack?: HttpBackend;
  /** Requests (startup, Query, Sync; HTTP requests) sent, and answers seen: a drop-reply waits for its own. */
  private sentRequests = 0;
  private readyAnswers = 0;
  private swallowUntil = 0;
  private swallowed: string[] = [];
  private onReplied?: (reply: string) => void;
  private held: { to: "server" | "client"; bytes: Buffer }[] = [];
  /** A matched request still being forwarded (Postgres: Bind/Execute/Sync after Parse; HTTP: its body). */
  private pendingMatch?: { armed: Armed; request: string };
  /** Writes in order (a slowed proxy delays each chunk). */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly proxy: FaultProxy,
    readonly client: Socket,
    readonly server: Socket,
  ) {
    if (proxy.protocol === "postgres") {
      const f = new PgFrontend();
      this.front = f;
      this.pgBack = new PgBackend(f);
    } else this.front = new HttpFrontend();
    client.on("data", (d: Buffer) => this.fromClient(d));
    server.on("data", (d: Buffer) => this.fromServer(d));
    // a side that finished sending: the other side is ended once what came before is written
    client.on("end", () => this.endLater(server));
    server.on("end", () => this.endLater(client));
    client.on("error", () => this.kill(true));
    server.on("error", () => this.kill(true));
    const closed = () => {
      if (client.destroyed && server.destroyed) this.forget();
    };
    client.on("close", closed);
    server.on("close", closed);
  }

  private endLater(s: Socket): void {
    this.chain = this.chain.then(() => {
      if (this.state !== "dead" && !s.destroyed) s.end();
    });
  }

  private send(to: "server" | "client", bytes: Buffer): void {
    if (this.state === "dead" || !bytes.length) return;
    if (this.state === "stalled") {
      this.held.push({ to, bytes });
      return;
    }
    const delay = this.proxy.delayMs;
    const dst = to === "server" ? this.server : this.client;
    const src = to === "server" ? this.client : this.server;
    const write = () => {
      if (this.state === "dead" || dst.destroyed) return;
      if (!dst.write(bytes)) {
        src.pause(); // backpressure: the slow side holds the fast one
        dst.once("drain", () => src.resume());
      }
    };
    this.chain = delay > 0 ? this.chain.then(() => new Promise<void>((r) => setTimeout(r, delay))).then(write) : this.chain.then(write);
  }

  private fromClient(d: Buffer): void {
    if (this.state === "dead") return;
    for (const frame of this.front.push(d)) {
      if (this.pendingMatch) {
        this.send("server", frame.bytes);
        if (frame.endsRequest) this.requestSent();
        if (this.isDead()) return;
        continue;
      }
      const armed = frame.request !== undefined ? this.proxy.matchRequest(frame.request) : undefined;
      if (!armed) {
        if (frame.endsRequest) this.sentRequests++;
        this.send("server", frame.bytes);
        continue;
      }
      const request = frame.request!;
      if (armed.rule.thenRefuse) this.proxy.unreachable(this);
      if (armed.rule.action === "reset-before") {
        this.proxy.record(armed, { action: "reset-before", request });
        this.kill(true);
        return;
      }
      this.pendingMatch = { armed, request };
      this.send("server", frame.bytes);
      if (frame.endsRequest) this.requestSent();
      if (this.isDead()) return;
    }
  }

  /** The matched request went out in full: act on it. */
  private requestSent(): void {
    const m = this.pendingMatch!;
    this.pendingMatch = undefined;
    this.sentRequests++;
    const action = m.armed.rule.action;
    if (action === "stall") {
      // the request is already queued for the server; from here on everything is held (release() delivers it)
      this.stall();
      this.proxy.record(m.armed, { action, request: m.request });
      return;
    }
    if (action === "reset-after") {
      this.proxy.record(m.armed, { action, request: m.request });
      // once the request has left this process: the server may or may not act on it
      this.chain = this.chain
        .then(() => new Promise<void>((r) => (this.server.writableLength ? this.server.once("drain", () => r()) : r())))
        .then(() => this.kill(true));
      return;
    }
    // drop-reply: swallow until the server has answered this request, then reset
    this.state = "swallow";
    this.swallowUntil = this.sentRequests;
    this.httpBack = this.proxy.protocol === "http" ? new HttpBackend() : undefined;
    this.onReplied = (reply) => {
      this.proxy.record(m.armed, { action: "drop-reply", request: m.request, reply });
      this.kill(true);
    };
  }

  private fromServer(d: Buffer): void {
    if (this.state === "dead") return;
    if (this.proxy.protocol === "http") {
      if (this.state !== "swallow") return this.send("client", d);
      const { interim, status } = this.httpBack!.push(d);
      for (const h of interim) this.sendNow("client", h); // "100 Continue": the client sends the body after it
      if (status) this.onReplied?.(status);
      return;
    }
    for (const m of this.pgBack!.push(d)) {
      if (m.sslAnswer === "S" || m.sslAnswer === "G") {
        this.send("client", m.bytes);
        const rest = (this.front as PgFrontend).goOpaque();
        if (rest.length) this.send("server", rest);
        continue;
      }
      if (this.state === "swallow") {
        if (m.text.startsWith("C ") || m.text.startsWith("E ")) this.swallowed.push(m.text.slice(2));
        if (m.ready && ++this.readyAnswers >= this.swallowUntil) {
          this.onReplied?.(this.swallowed.join("; ") || "ReadyForQuery");
          return;
        }
        continue;
      }
      if (m.ready) this.readyAnswers++;
      const watched = m.text ? this.proxy.matchServer(m.text) : undefined;
      if (watched) {
        // what came before is forwarded; this message and everything after it are lost with the connection
        this.proxy.recordServer(watched, m.text);
        this.chain = this.chain.then(() => this.kill(true));
        return;
      }
      this.send("client", m.bytes);
    }
  }

  /** Writes past the swallow state (interim HTTP answers). */
  private sendNow(to: "server" | "client", bytes: Buffer): void {
    const s = this.state;
    this.state = "forward";
    this.send(to, bytes);
    this.state = s;
  }

  isDead(): boolean {
    return this.state === "dead";
  }

  stall(): void {
    if (this.state === "forward") this.state = "stalled";
  }

  release(): void {
    if (this.state !== "stalled") return;
    this.state = "forward";
    const held = this.held;
    this.held = [];
    for (const h of held) this.send(h.to, h.bytes);
  }

  /** reset: RST both ways (a network fault); otherwise both sides are just closed. */
  kill(reset: boolean): void {
    if (this.state === "dead") return;
    this.state = "dead";
    this.held = [];
    for (const s of [this.client, this.server]) {
      if (s.destroyed) continue;
      if (reset) s.resetAndDestroy();
      else s.destroy();
    }
    this.forget();
  }

  private forget(): void {
    this.state = "dead";
    this.proxy.forget(this);
  }
}

export class FaultProxy {
  readonly faults: FaultRecord[] = [];
  /** Connections accepted and forwarded. */
  connections = 0;
  /** Connections reset on accept while refusing. */
  refused = 0;
  delayMs = 0;
  private refusing = false;
  private closedListener = false;
  private readonly conns = new Set<Conn>();
  private readonly armed: Armed[] = [];
  private readonly watched: Watched[] = [];
  private server!: Server;
  port = 0;

  private constructor(
    readonly name: string,
    readonly protocol: Protocol,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(opts: { name: string; protocol: Protocol; target: { host?: string; port: number }; port?: number }): Promise<FaultProxy> {
    const p = new FaultProxy(opts.name, opts.protocol, { host: opts.target.host ?? "127.0.0.1", port: opts.target.port });
    await p.listen(opts.port ?? 0);
    return p;
  }

  private listen(port: number): Promise<void> {
    this.server = createServer({ noDelay: true }, (client) => this.onConnection(client));
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", () => {
        this.server.off("error", reject);
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** host:port of the proxy. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** A postgres:// URL through the proxy (user postgres, no password, as the test servers run). */
  pgUrl(database: string, user = "postgres"): string {
    return `postgres://${user}@127.0.0.1:${this.port}/${database}`;
  }

  /** An http:// URL through the proxy. */
  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private onConnection(client: Socket): void {
    client.on("error", () => undefined);
    if (this.refusing) {
      this.refused++;
      client.resetAndDestroy();
      return;
    }
    this.connections++;
    client.pause();
    const server = connect({ host: this.target.host, port: this.target.port, noDelay: true });
    server.on("error", () => client.resetAndDestroy());
    server.once("connect", () => {
      const conn = new Conn(this, client, server);
      this.conns.add(conn);
      if (this.stallingAll) conn.stall();
      client.resume();
    });
  }

  forget(c: Conn): void {
    this.conns.delete(c);
  }

  /** Arms a request rule; `hit` resolves with the record of its first firing. */
  arm(rule: FaultRule): { hit: Promise<FaultRecord>; disarm(): void; readonly fired: number } {
    const a: Armed = { rule, seen: 0, fired: 0, waiters: [] };
    this.armed.push(a);
    return {
      hit: new Promise<FaultRecord>((r) => a.waiters.push(r)),
      disarm: () => {
        const i = this.armed.indexOf(a);
        if (i >= 0) this.armed.splice(i, 1);
      },
      get fired() {
        return a.fired;
      },
    };
  }

  /** Arms a rule on what the server sends: the connection is reset right before that message would reach the client. */
  watch(rule: ServerRule): { hit: Promise<FaultRecord>; disarm(): void } {
    const w: Watched = { rule, seen: 0, fired: 0, waiters: [] };
    this.watched.push(w);
    return {
      hit: new Promise<FaultRecord>((r) => w.waiters.push(r)),
      disarm: () => {
        const i = this.watched.indexOf(w);
        if (i >= 0) this.watched.splice(i, 1);
      },
    };
  }

  matchRequest(request: string): Armed | undefined {
    for (const a of this.armed) {
      const { rule } = a;
      const hit = typeof rule.match === "function" ? rule.match(request) : rule.match.test(request);
      if (!hit) continue;
      a.seen++;
      if (a.seen <= (rule.skip ?? 0)) continue;
      if (rule.probability !== undefined && Math.random() >= rule.probability) continue;
      a.fired++;
      if (a.fired >= (rule.times ?? 1)) this.armed.splice(this.armed.indexOf(a), 1);
      return a;
    }
    return undefined;
  }

  matchServer(message: string): Watched | undefined {
    for (const w of this.watched) {
      const { rule } = w;
      const hit = typeof rule.match === "function" ? rule.match(message) : rule.match.test(message);
      if (!hit) continue;
      w.seen++;
      if (w.seen <= (rule.skip ?? 0)) continue;
      w.fired++;
      if (w.fired >= (rule.times ?? 1)) this.watched.splice(this.watched.indexOf(w), 1);
      return w;
    }
    return undefined;
  }

  record(a: Armed, r: Omit<FaultRecord, "proxy" | "rule" | "at">): void {
    const rec: FaultRecord = { proxy: this.name, rule: a.rule.name, at: Date.now(), ...r };
    this.faults.push(rec);
    for (const w of a.waiters.splice(0)) w(rec);
  }

  recordServer(w: Watched, message: string): void {
    const rec: FaultRecord = { proxy: this.name, rule: w.rule.name, action: "server-reset", request: message, at: Date.now() };
    this.faults.push(rec);
    for (const x of w.waiters.splice(0)) x(rec);
  }

  /** New connections are reset on accept (counted), or with `close` the port stops listening. */
  refuse(opts: { close?: boolean } = {}): void {
    this.refusing = true;
    if (opts.close && !this.closedListener) {
      this.closedListener = true;
      this.server.close();
    }
  }

  /** New connections are refused and every open connection but `except` is reset. */
  unreachable(except?: object): void {
    this.refuse();
    for (const c of [...this.conns]) if (c !== except) c.kill(true);
  }

  /** Accepts new connections again (listening again on the same port after `refuse({ close: true })`). */
  async accept(): Promise<void> {
    this.refusing = false;
    if (this.closedListener) {
      this.closedListener = false;
      await this.listen(this.port);
    }
  }

  /** Resets every open connection; returns how many. */
  resetAll(): number {
    const n = this.conns.size;
    for (const c of [...this.conns]) c.kill(true);
    return n;
  }

  private stallingAll = false;
  /** Holds all traffic of open and new connections until release(). */
  stallAll(): void {
    this.stallingAll = true;
    for (const c of this.conns) c.stall();
  }

  /** Delivers what stalled connections held and forwards again. */
  release(): void {
    this.stallingAll = false;
    for (const c of this.conns) c.release();
  }

  /** Every chunk waits `ms` before it is forwarded (0: full speed). */
  slow(ms: number): void {
    this.delayMs = ms;
  }

  get openConnections(): number {
    return this.conns.size;
  }

  async stop(): Promise<void> {
    this.resetAll();
    if (!this.closedListener) await new Promise<void>((r) => this.server.close(() => r()));
  }
}
