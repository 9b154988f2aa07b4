/**
 * Waits that follow progress, not the clock. A test on a loaded 2-core machine may take many
 * times longer than on a quiet one; a wait must fail only when nothing advanced for a while, and
 * then say what it waited for and what it saw last.
 *
 * `waitUntil(what, check, { progress })` polls `check` until it returns a value. `progress` names
 * measures of the work the test is waiting on (rows applied, an LSN the server sent, bytes
 * written, a process's CPU time, snapshots committed). A number advances when it passes its
 * highest value so far (so a writer that restarts and redoes the same work is not progress), any
 * other value when it changes. Each advance restarts the idle clock; the wait fails when it runs
 * out (`idleMs`, default 120 s). Without `progress`, `idleMs` bounds the whole wait: use that only
 * for waits that cannot stall on a slow machine's load (a process that must answer at once).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { registry } from "../../runtime/core/metrics";

export type Measure = number | bigint | string | boolean | undefined | null;
export type Progress = Record<string, Measure>;

export interface WaitOptions {
  /** Measures of the awaited work; any that advances restarts the idle clock. */
  progress?: () => Promise<Progress> | Progress;
  /** Fail when nothing advanced for this long (default 120 s). */
  idleMs?: number;
  /** Poll interval (default 100 ms). */
  everyMs?: number;
  /** Progress is read at most this often (default 1 s). */
  progressEveryMs?: number;
  /** More to say when failing (e.g. the last rows compared). */
  explain?: () => string;
}

export const DEFAULT_IDLE_MS = 120_000;

/** Thrown when a wait gave up: nothing advanced for idleMs. */
export class WaitStalled extends Error {}

/** Thrown by a check to end the wait at once (the awaited thing can no longer happen). */
export class GiveUp extends Error {}

/**
 * Polls `check` until it returns something other than undefined/false and returns that. Errors
 * thrown by `check` count as not yet (the last one is reported), except GiveUp, which ends the
 * wait at once; errors from `progress` count as not advanced.
 */
export async function waitUntil<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, opts: WaitOptions = {}): Promise<T> {
  const idleMs = opts.idleMs ?? DEFAULT_IDLE_MS;
  const everyMs = opts.everyMs ?? 100;
  const started = Date.now();
  const tracker = new ProgressTracker();
  let lastAdvance = started;
  let lastRead = 0;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      if (e instanceof GiveUp) throw new GiveUp(`gave up waiting for ${what}: ${e.message}`);
      lastError = e;
    }
    if (opts.progress && Date.now() - lastRead >= (opts.progressEveryMs ?? 1000)) {
      lastRead = Date.now();
      try {
        if (tracker.update(await opts.progress())) lastAdvance = Date.now();
      } catch (e) {
        lastError = e;
      }
    }
    const now = Date.now();
    if (now - lastAdvance > idleMs) {
      const parts = [
        opts.progress
          ? `nothing advanced for ${seconds(now - lastAdvance)} (${tracker.describe()}; ${tracker.advances} advances in ${seconds(now - started)})`
          : `not done after ${seconds(now - started)} (no progress measure)`,
      ];
      if (opts.explain) parts.push(opts.explain());
      if (lastError) parts.push(`last error: ${(lastError as Error).message ?? String(lastError)}`);
      throw new WaitStalled(`gave up waiting for ${what}: ${parts.join("; ")}`);
    }
    await sleep(everyMs);
  }
}

/** High-water marks of named measures. */
export class ProgressTracker {
  private readonly best = new Map<string, Measure>();
  advances = 0;

  /** Records a reading; true when any measure advanced (the first reading counts). */
  update(p: Progress): boolean {
    let advanced = false;
    for (const [k, v] of Object.entries(p)) {
      if (v === undefined || v === null) continue;
      const had = this.best.get(k);
      const more =
        had === undefined
          ? true
          : (typeof v === "number" || typeof v === "bigint") && (typeof had === "number" || typeof had === "bigint")
            ? v > had
            : String(v) !== String(had);
      if (more) {
        this.best.set(k, v);
        advanced = true;
      }
    }
    if (advanced) this.advances++;
    return advanced;
  }

  describe(): string {
    return [...this.best].map(([k, v]) => `${k} ${String(v)}`).join(", ") || "no reading";
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

// ---- measures -------------------------------------------------------------------------------------

/** CPU time (ms) a process has used, from /proc; undefined when it is gone. */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in clock ticks (100 Hz)
  } catch {
    return undefined;
  }
}

/** Bytes of all files under a directory (0 when it does not exist): data and spill files being written. */
export function directoryBytes(dir: string): number {
  let total = 0;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e);
    try {
      const s = statSync(p);
      total += s.isDirectory() ? directoryBytes(p) : s.size;
    } catch {
      /* removed meanwhile */
    }
  }
  return total;
}

/** A pg Client, or a TestPostgres (its sql()). */
type Server = { query(sql: string, params?: unknown[]): Promise<{ rows: any[] }> } | { sql(text: string, params?: unknown[]): Promise<any[]> };

async function rowsOf(s: Server, sql: string, params: unknown[]): Promise<any[]> {
  return "query" in s ? (await s.query(sql, params)).rows : s.sql(sql, params);
}

/**
 * How far a server's logical slots (names LIKE `slots`, default all) have got, as numbers: the
 * highest sent_lsn of the walsenders reading them (a transaction being decoded and streamed moves
 * it) and the highest confirmed_flush_lsn (a commit confirmed).
 */
export async function walProgress(s: Server, slots = "%"): Promise<Progress> {
  const [r] = await rowsOf(
    s,
    `SELECT (max(r.sent_lsn - '0/0'))::text AS sent, (max(s.confirmed_flush_lsn - '0/0'))::text AS confirmed
       FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
      WHERE s.slot_type = 'logical' AND s.slot_name LIKE $1`,
    [slots],
  );
  return { walSent: r.sent === null ? undefined : BigInt(r.sent), slotConfirmed: r.confirmed === null ? undefined : BigInt(r.confirmed) };
}

/** The measures of `p` with their names prefixed (several servers in one progress reading). */
export function prefixed(prefix: string, p: Progress): Progress {
  return Object.fromEntries(Object.entries(p).map(([k, v]) => [`${prefix}.${k}`, v]));
}

/** Sum of a counter's values on this process's metrics registry, 0 if absent. */
async function counterTotal(name: string): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) return 0;
  return (await m.get()).values.reduce((a, v) => a + Number(v.value), 0);
}

/** Changes and transactions applied by the CDC writers running in this process (their metrics). */
export async function cdcApplied(): Promise<number> {
  return (await counterTotal("floe_cdc_rows_total")) + (await counterTotal("floe_cdc_transactions_total"));
}
