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

export type Measure = number | bigint | string | boolean | undefined | null;
export type Progress = Record<string, Measure>;

export interface WaitOptions {
  /** Measures of the awaited work; any that advances restarts the idle clock. */
  progress?: () => Promise<Progress> | Progress;
  /** Fail when nothing advanced for this long (default 120 s). */
  idleMs?: number;
  /** Poll interval (default 100 ms). */
  everyMs?: number;
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
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      if (e instanceof GiveUp) throw new GiveUp(`gave up waiting for ${what}: ${e.message}`);
      lastError = e;
    }
    if (opts.progress) {
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

/** A query runner: a pg Client or anything with its query(). */
interface Queryable {
  query(sql: string, params?: unknown[]): Promise<{ rows: any[] }>;
}

/**
 * What a server's walsenders have sent and been confirmed, as numbers: the highest sent_lsn of the
 * logical walsenders (a transaction being decoded and streamed moves it), and the highest
 * confirmed_flush_lsn of the slots.
 */
export async function walProgress(c: Queryable): Promise<Progress> {
  const r = await c.query(
    `SELECT (SELECT max(sent_lsn - '0/0') FROM pg_stat_replication)::text AS sent,
            (SELECT max(confirmed_flush_lsn - '0/0') FROM pg_replication_slots)::text AS confirmed`,
  );
  return { walSent: r.rows[0].sent === null ? undefined : BigInt(r.rows[0].sent), slotConfirmed: r.rows[0].confirmed === null ? undefined : BigInt(r.rows[0].confirmed) };
}
