/**
 * A steady write load on a parent database for branch tests and the branch bench: N clients, each
 * in a loop of one transaction (insert its next row into branch_log, add 1 to its counter). Every
 * commit is recorded with two LSNs that bracket its commit record: `before` (the WAL insert
 * position inside the transaction, after its changes: the commit record starts at or after it) and
 * `after` (read once COMMIT returned: the commit record ends at or before it). So for a branch that
 * holds the parent's WAL before LSN X: after <= X means the commit must be in the branch, before >=
 * X means it must not be; in between, either. Each transaction's latency is kept with its end time
 * (with `reconnect`, a transaction retried after its session was terminated counts from its first
 * attempt: the time an application retrying it waits).
 */
import { Client } from "pg";
import { parseLsn } from "../../runtime/cdc/lsn";

export interface Commit {
  client: number;
  seq: number;
  before: bigint;
  after: bigint;
  /** Wall-clock ms when COMMIT returned. */
  at: number;
  /** The transaction's latency (BEGIN … COMMIT, one round trip), ms. */
  ms: number;
}

export const LOAD_SCHEMA = `CREATE TABLE IF NOT EXISTS branch_log (client int, seq bigint, payload text NOT NULL, PRIMARY KEY (client, seq));
CREATE TABLE IF NOT EXISTS branch_counters (client int PRIMARY KEY, n bigint NOT NULL)`;

export class WriteLoad {
  readonly commits: Commit[] = [];
  readonly errors: Error[] = [];
  /** Each client's backend pid: the same at the end means no session was replaced. */
  readonly pids: number[] = [];
  private stopping = false;
  private loops: Promise<void>[] = [];
  private clients: Client[] = [];

  /** Failed transactions, when `reconnect` keeps clients going after an error. */
  failures = 0;

  /**
   * `reconnect`: a client whose transaction fails (its session terminated, the database closed)
   * counts the failure, reconnects (retrying every 50 ms) and goes on; without it the error is kept
   * and the client stops.
   */
  constructor(
    private readonly url: string,
    private readonly n = 4,
    private readonly pauseMs = 0,
    private readonly reconnect = false,
  ) {}

  async start(): Promise<void> {
    const setup = new Client({ connectionString: this.url });
    await setup.connect();
    try {
      await setup.query(LOAD_SCHEMA);
      for (let i = 0; i < this.n; i++) await setup.query("INSERT INTO branch_counters VALUES ($1, 0) ON CONFLICT DO NOTHING", [i]);
    } finally {
      await setup.end();
    }
    for (let i = 0; i < this.n; i++) {
      const c = new Client({ connectionString: this.url, application_name: `load-${i}` });
      await c.connect();
      // with reconnect, a terminated session is a counted failure of the query it was running, not an error
      c.on("error", (e) => (this.reconnect ? undefined : this.errors.push(e)));
      this.clients.push(c);
      this.pids.push((await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid);
      const start = Number((await c.query("SELECT coalesce(max(seq), 0) AS s FROM branch_log WHERE client = $1", [i])).rows[0].s);
      this.loops.push(this.loop(c, i, start));
    }
  }

  private async connectClient(client: number): Promise<Client> {
    for (;;) {
      const c = new Client({ connectionString: this.url, application_name: `load-${client}` });
      c.on("error", () => undefined);
      try {
        await c.connect();
        return c;
      } catch {
        await c.end().catch(() => undefined);
        if (this.stopping) throw new Error("stopped");
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  private async loop(c: Client, client: number, from: number): Promise<void> {
    // with reconnect: when the first failed attempt of the transaction now retried began
    let failedAt: number | undefined;
    for (let seq = from + 1; !this.stopping; seq++) {
      const t0 = performance.now();
      try {
        // one round trip: the transaction's latency is what an application would see
        const r: any = await c.query(
          `BEGIN; INSERT INTO branch_log VALUES (${client}, ${seq}, md5('${client}-${seq}') || repeat('x', 100));
           UPDATE branch_counters SET n = n + 1 WHERE client = ${client} RETURNING pg_current_wal_insert_lsn()::text AS before; COMMIT`,
        );
        // a retried transaction's latency runs from its first attempt: what an application retrying it waits
        const ms = performance.now() - (failedAt ?? t0);
        failedAt = undefined;
        const at = Date.now();
        const before = parseLsn((r as any[])[2].rows[0].before);
        const after = parseLsn((await c.query("SELECT pg_current_wal_insert_lsn()::text AS lsn")).rows[0].lsn);
        this.commits.push({ client, seq, before, after, at, ms });
      } catch (e) {
        if (!this.reconnect) {
          this.errors.push(e as Error);
          return;
        }
        this.failures++;
        failedAt ??= t0;
        await c.end().catch(() => undefined);
        try {
          c = await this.connectClient(client);
          // the failed transaction may have committed before its session went: go on after what is there
          seq = Number((await c.query("SELECT coalesce(max(seq), 0) AS s FROM branch_log WHERE client = $1", [client])).rows[0].s);
        } catch {
          if (this.stopping) return;
          seq--;
          continue;
        }
        this.clients[client] = c;
        continue;
      }
      if (this.pauseMs) await new Promise((r) => setTimeout(r, this.pauseMs));
    }
  }

  /** Resolves once `n` more commits have landed than when it was called (fails on a client error). */
  async progress(n: number): Promise<void> {
    const target = this.commits.length + n;
    while (this.commits.length < target) {
      if (this.errors.length) throw new Error(`the write load failed while waiting for ${n} commits: ${this.errors[0].message}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Stops the clients; returns each one's final backend pid (unchanged unless a session was replaced). */
  async stop(): Promise<number[]> {
    this.stopping = true;
    await Promise.all(this.loops);
    const pids: number[] = [];
    for (const c of this.clients) {
      pids.push(
        await c.query("SELECT pg_backend_pid() AS pid").then(
          (r) => r.rows[0].pid as number,
          () => -1,
        ),
      );
      await c.end().catch(() => undefined);
    }
    return pids;
  }

  /** Latencies (ms) of transactions that ended in [from, to). */
  latencies(from: number, to: number): number[] {
    return this.commits.filter((c) => c.at >= from && c.at < to).map((c) => c.ms);
  }
}

/** The p-quantile (0..1) of a list, nearest rank; NaN when empty. */
export function quantile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}

export interface BranchPointCheck {
  /** Commits that had to be in the branch (and were). */
  inside: number;
  /** Commits that had to be absent (and were). */
  outside: number;
  /** Commits whose commit record may straddle the branch point (either way is right). */
  ambiguous: number;
  problems: string[];
}

/**
 * Compares a branch's branch_log and branch_counters with the commits recorded on the parent, for a
 * branch that holds the parent's WAL before `lsn`: every commit known to end before is there, none
 * known to start at or after is, nothing uncommitted is, and each client's counter equals its rows
 * (a transaction is whole or absent).
 */
export function checkBranchPoint(
  commits: Commit[],
  rows: { client: number; seq: number }[],
  counters: { client: number; n: number }[],
  lsn: bigint,
): BranchPointCheck {
  const have = new Set(rows.map((r) => `${r.client}:${r.seq}`));
  const known = new Map(commits.map((c) => [`${c.client}:${c.seq}`, c]));
  const out: BranchPointCheck = { inside: 0, outside: 0, ambiguous: 0, problems: [] };
  for (const c of commits) {
    const k = `${c.client}:${c.seq}`;
    if (c.after <= lsn) {
      if (have.has(k)) out.inside++;
      else out.problems.push(`commit ${k} ended at or before ${c.after} <= branch point but is missing`);
    } else if (c.before >= lsn) {
      if (!have.has(k)) out.outside++;
      else out.problems.push(`commit ${k} started at or after ${c.before} >= branch point but is in the branch`);
    } else out.ambiguous++;
  }
  for (const k of have) if (!known.has(k)) out.problems.push(`row ${k} in the branch is no recorded commit`);
  const perClient = new Map<number, number>();
  for (const r of rows) perClient.set(r.client, (perClient.get(r.client) ?? 0) + 1);
  for (const c of counters) {
    if ((perClient.get(c.client) ?? 0) !== Number(c.n))
      out.problems.push(`client ${c.client}: counter ${c.n} but ${perClient.get(c.client) ?? 0} rows (a transaction split by the branch point)`);
  }
  return out;
}
