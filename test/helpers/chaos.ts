/**
 * The chaos run (issue 11): `floe cdc run` under continuous writes, killed with SIGKILL again and
 * again, each kill after the killed writer has committed (killAfterCommits), with faults from
 * outside between its commit and its kill, in a fixed rotation:
 *
 * - `drop-reply`: the catalog's answer to a commit (the SQL catalog's compare-and-swap UPDATE) is
 *   swallowed after the catalog applied it, the connection reset. Hit as meant: the record shows
 *   the catalog answered "UPDATE 1" (applied; the writer never heard).
 * - `outage`: the catalog unreachable (open connections reset, new ones refused) for a while. Hit
 *   as meant: the writer tried to reach it during the outage (a refused connection counted).
 * - `drop-reply+outage`: both, the outage starting as the reply is swallowed, so the writer's
 *   re-check meets an unreachable catalog. Hit as meant: reply "UPDATE 1" and a refusal after it.
 * - `pg-restart`: the source Postgres restarted (fast shutdown: walsender and clients cut off).
 *   Hit as meant: the writer committed again after the restart, before its kill.
 * - `none`: only the kill.
 *
 * The source and the catalog are two servers, so that a source restart is not a catalog outage.
 * Then a last writer catches up: the mirror equals Postgres, and every change is in the
 * changelogs exactly once (checkExactlyOnce). The same code runs the CI-sized integration test
 * (test/integration/cdc/chaos.test.ts) and the long run (bench/chaos.ts). Every writer logs at
 * debug level into a directory (each transaction with its tables' LSNs, each commit with its
 * floe.lsn); when something is lost or duplicated the report carries a diagnosis drawn from those
 * logs and the changelogs (chaos-diagnosis.ts) and the directory is kept.
 */
import {
  CdcBed,
  checkExactlyOnce,
  createWorkloadTables,
  killAfterCommits,
  spawnWriter,
  startCdcBed,
  startWorkload,
  tableSnapshots,
  waitForCommitSince,
  WORKLOAD_TARGETS,
  WriterProcess,
} from "./cdc";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { diagnoseChanges } from "./chaos-diagnosis";
import { FaultProxy } from "./faults";
import { startPostgres } from "./postgres";
import { GiveUp, waitUntil } from "./wait";

export const FAULT_KINDS = ["none", "drop-reply", "outage", "drop-reply+outage", "pg-restart"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Which fault goes with kill number `n` (1-based): every kind in turn, the restart every fifth. */
export function faultFor(n: number): FaultKind {
  return FAULT_KINDS[(n - 1) % FAULT_KINDS.length];
}

export interface ChaosReport {
  kills: number;
  midStream: number;
  /** Per fault kind: injected, and hit at the moment it aimed at. */
  faults: Record<FaultKind, { injected: number; hit: number }>;
  /** Transactions the clients committed (sum of the final counters). */
  transactions: number;
  /** Changelog rows checked (events + counters). */
  changes: number;
  mirrorEqual: boolean;
  lost: string[];
  duplicated: string[];
  /** Counter updates committed exactly at a copy's consistent point (checkExactlyOnce). */
  atCopyPoint: number;
  seconds: number;
  /** When something was lost or duplicated: where (chaos-diagnosis.ts), and the directory the writers' debug logs were kept in. */
  diagnosis: string[];
}

/** The commit's compare-and-swap in the SQL catalog. */
const COMMIT_CAS = /^UPDATE iceberg_tables SET metadata_location/;

/**
 * `logDir`: where each writer's debug log goes (default FLOE_TEST_WRITER_LOGS, else a temp
 * directory removed when nothing was lost or duplicated, and kept, named in the diagnosis, when something was).
 */
export async function runChaos(opts: { kills: number; spreadMs?: number; log?: (line: string) => void; logDir?: string }): Promise<ChaosReport> {
  const log = opts.log ?? (() => undefined);
  const started = Date.now();
  const logDir = opts.logDir ?? process.env.FLOE_TEST_WRITER_LOGS ?? mkdtempSync(join(tmpdir(), "floe-chaos-logs-"));
  let keepLogs = opts.logDir !== undefined || process.env.FLOE_TEST_WRITER_LOGS !== undefined;
  const source = await startPostgres();
  const catalogServer = await startPostgres();
  let bed: CdcBed | undefined;
  let proxy: FaultProxy | undefined;
  try {
    bed = await startCdcBed({ pg: source, catalogPg: catalogServer });
    proxy = await FaultProxy.start({ name: "catalog", protocol: "postgres", target: { port: catalogServer.port } });
    const clients = 3;
    await createWorkloadTables(bed, { accounts: 200, clients });
    const file = bed.configFile({ tables: WORKLOAD_TARGETS, catalog: { type: "sql", uri: proxy.pgUrl("lake"), name: "floe" }, commit: { intervalMs: 50 } });
    const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, { injected: 0, hit: 0 }])) as ChaosReport["faults"];
    const inject = injector(bed, proxy, faults, log);
    const load = startWorkload(bed, { clients, accounts: 200, every: 25, reconnect: true });
    let finals: number[] = [];
    let kills;
    try {
      kills = await killAfterCommits(bed, file, load, {
        kills: opts.kills,
        spreadMs: opts.spreadMs ?? 400,
        watch: "counters",
        afterCommit: inject,
        logDir,
        onKill: (d, n) =>
          log(
            `kill ${n}: pid ${d.pid}, fault ${faultFor(n)}, started ${iso(d.startedAt)}, committed ${iso(d.committedAt)}, killed ${iso(d.killedAt)}` +
              `${d.midStream ? "" : " (not mid-stream)"}`,
          ),
      });
    } finally {
      proxy.release();
      await proxy.accept();
      finals = await load.stop();
    }
    log(`${kills.kills} kills (${kills.midStream} mid-stream); ${load.committed} transactions; catching up`);
    const last = spawnWriter(file, { logDir });
    try {
      const mirror = await bed.waitForEqual("accounts", { child: last });
      const once = await checkExactlyOnce(bed, finals, { pid: last.pid });
      let diagnosis: string[] = [];
      // FLOE_CHAOS_DIAGNOSE="counters 1:100": the same diagnosis for a value that was not lost (to see what it shows)
      const suspects = [...once.lost, ...once.duplicated, ...(process.env.FLOE_CHAOS_DIAGNOSE ? [process.env.FLOE_CHAOS_DIAGNOSE] : [])];
      if (suspects.length) {
        keepLogs = true;
        diagnosis = [...(await diagnoseChanges(bed, load, suspects, kills, logDir)), `writer debug logs kept in ${logDir}`];
      }
      return {
        diagnosis,
        kills: kills.kills,
        midStream: kills.midStream,
        faults,
        transactions: finals.reduce((a, b) => a + b, 0),
        changes: once.changes,
        mirrorEqual: JSON.stringify(mirror.ice) === JSON.stringify(mirror.pg),
        lost: once.lost,
        duplicated: once.duplicated,
        atCopyPoint: once.atCopyPoint,
        seconds: (Date.now() - started) / 1000,
      };
    } finally {
      last.kill("SIGTERM");
      await new Promise((r) => (last.exitCode !== null || last.signalCode !== null ? r(undefined) : last.once("exit", r)));
    }
  } finally {
    await proxy?.stop();
    await bed?.stop();
    await source.stop();
    await catalogServer.stop();
    if (!keepLogs) rmSync(logDir, { recursive: true, force: true });
  }
}

const iso = (ms: number) => (ms ? new Date(ms).toISOString() : "-");

/** The afterCommit hook of killAfterCommits: the fault of this kill, and whether it hit as meant. */
function injector(bed: CdcBed, proxy: FaultProxy, faults: ChaosReport["faults"], log: (line: string) => void) {
  const alive = (w: WriterProcess) => () => {
    if (w.exitCode !== null || w.signalCode !== null)
      throw new GiveUp(`the writer exited by itself (code ${w.exitCode}, signal ${w.signalCode}); its last log lines:\n${w.logTail()}`);
  };
  /** Waits for a promise while the writer lives; progress: its log. */
  const during = async <T>(what: string, w: WriterProcess, p: Promise<T>): Promise<T> => {
    let value: { v: T } | undefined;
    let failed: unknown;
    p.then(
      (v) => (value = { v }),
      (e) => (failed = e ?? new Error("rejected")),
    );
    const check = alive(w);
    await waitUntil(
      what,
      () => {
        if (failed) throw new GiveUp(String((failed as Error).message ?? failed));
        check();
        return value !== undefined;
      },
      { progress: () => ({ writerLogLines: w.logLines }), explain: () => `the writer's last log lines:\n${w.logTail()}` },
    );
    return value!.v;
  };
  /** Waits until the writer tried the unreachable catalog once more than `before` refusals. */
  const refusedAfter = (w: WriterProcess, before: number) => {
    const check = alive(w);
    return waitUntil("the writer to try the unreachable catalog", () => (check(), proxy.refused > before), {
      progress: () => ({ writerLogLines: w.logLines }),
      explain: () => `refused ${proxy.refused}; the writer's last log lines:\n${w.logTail()}`,
    });
  };
  return async (w: WriterProcess, n: number): Promise<void> => {
    const kind = faultFor(n);
    const f = faults[kind];
    if (kind === "none") {
      f.injected++;
      f.hit++;
      return;
    }
    f.injected++;
    const injectedAt = Date.now();
    let hit = false;
    if (kind === "drop-reply" || kind === "drop-reply+outage") {
      const refusedBefore = proxy.refused;
      const fault = proxy.arm({ name: `commit CAS (kill ${n})`, match: COMMIT_CAS, action: "drop-reply", thenRefuse: kind === "drop-reply+outage" });
      try {
        const rec = await during(`kill ${n}: the writer's next commit (its reply to be dropped)`, w, fault.hit);
        hit = rec.reply === "UPDATE 1"; // the catalog applied it; the writer never heard
        if (kind === "drop-reply+outage") {
          await refusedAfter(w, refusedBefore);
          hit &&= proxy.refused > refusedBefore;
          await sleep(Math.random() * 1000);
          await proxy.accept();
        }
      } finally {
        fault.disarm();
        await proxy.accept();
      }
    } else if (kind === "outage") {
      const before = proxy.refused;
      proxy.unreachable();
      try {
        await refusedAfter(w, before);
        hit = proxy.refused > before;
        await sleep(Math.random() * 1000);
      } finally {
        await proxy.accept();
      }
    } else if (kind === "pg-restart") {
      const catalog = await bed.sharedCatalog();
      const lake = await bed.catalogPg.connect("lake");
      try {
        await bed.pg.restart();
        const before = await tableSnapshots(catalog, lake);
        const commits = await waitForCommitSince(`kill ${n}: the writer after the source restart`, w, before, catalog, lake, async () => ({
          writerLogLines: w.logLines,
        }));
        hit = commits > 0;
      } finally {
        await lake.end();
      }
    }
    if (hit) f.hit++;
    log(`kill ${n}: ${kind} ${hit ? "hit as meant" : "did not hit as meant"} (injected ${iso(injectedAt)}, done ${iso(Date.now())})`);
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One line per fault kind and the totals, for the bench and the test log. */
export function describeChaos(r: ChaosReport): string {
  const faults = FAULT_KINDS.map((k) => `${k} ${r.faults[k].injected} injected / ${r.faults[k].hit} hit as meant`).join(", ");
  return (
    `chaos: ${r.kills} kill -9 (${r.midStream} mid-stream, each after >= 1 commit); faults: ${faults}; ` +
    `${r.transactions} transactions, ${r.changes} changelog rows, mirror ${r.mirrorEqual ? "equal" : "DIFFERENT"}, lost ${r.lost.length}, duplicated ${r.duplicated.length}; ` +
    `${r.atCopyPoint} counter updates committed at a copy's consistent point; ${r.seconds.toFixed(0)} s`
  );
}
