/**
 * bench/branch — a branch of a ~1 GB database while clients write to it: how long the branch takes
 * and what the writing clients see meanwhile, for each way floe can branch, in one run on one server:
 *   - baseline: the same clients with nothing else going on (p50 / p99 transaction latency);
 *   - instance (the default): a new server from a physical copy (clone where the filesystem can,
 *     else copy) — the branch's time, the clients' p99 / max latency during it, failed transactions;
 *   - template, waiting (CREATE DATABASE … TEMPLATE, FILE_COPY): it cannot start while the clients
 *     are connected, so it gives up after FLOE_BENCH_TEMPLATE_WAIT_S (default 10 s);
 *   - template --terminate-connections: it closes the database, terminates the clients (they
 *     reconnect and retry), copies, re-opens — time, failed transactions, longest stall.
 * Ratios: each p99 over the baseline p99; the instance branch's time over a plain `cp -r` + sync
 * of the data directory (the copy floor) and over the terminating template's, all in the same run.
 * A transaction retried after its session was terminated counts from its first attempt. Per phase:
 * CPU-seconds of the parent server (postmaster and backends, ended ones included), of this process
 * (the clients' driver and the instance copy) and of the branch server; the load average before,
 * during and after (the machine may be shared: compare CPU-seconds and ratios, not wall times).
 *
 * Run by hand (it writes ~4 GB): npm run build && node dist/bench/branch.js
 *   FLOE_BENCH_BRANCH_MB parent size (default 1024), FLOE_BENCH_CLIENTS (default 4),
 *   FLOE_BENCH_MAJOR (default 17). TMPDIR picks the filesystem: on XFS with reflink, btrfs or ZFS
 *   the instance branch clones (its "method" says which). fsync stays on.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBranch, deleteBranch } from "../runtime/schema/branch";
import { startPostgres } from "../test/helpers/postgres";
import { LOAD_SCHEMA, quantile, WriteLoad } from "../test/helpers/write-load";
import { loadAverage, selfCpuSeconds, serverCpuSeconds } from "./efficiency";

const TARGET_MB = Number(process.env.FLOE_BENCH_BRANCH_MB ?? 1024);
const CLIENTS = Number(process.env.FLOE_BENCH_CLIENTS ?? 4);
const MAJOR = Number(process.env.FLOE_BENCH_MAJOR ?? 17);
const TEMPLATE_WAIT_S = Number(process.env.FLOE_BENCH_TEMPLATE_WAIT_S ?? 10);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r1 = (x: number) => Math.round(x * 10) / 10;

interface Phase {
  ms: number;
  commits: number;
  failed: number;
  p50: number;
  p99: number;
  max: number;
  /** The longest time with no commit at all, from any client. */
  stallMs: number;
  /** CPU-seconds in the phase: the parent server (its postmaster and backends) and this process (the clients' driver, the instance copy). */
  parentCpuS: number;
  benchCpuS: number;
  load: number[];
}

interface Mark {
  at: number;
  failures: number;
  parentCpu: number;
  benchCpu: number;
}

function phase(load: WriteLoad, dataDir: string, m: Mark): Phase {
  const start = m.at;
  const end = Date.now();
  const lat = load.latencies(start, end);
  const ats = load.commits
    .filter((c) => c.at >= start && c.at < end)
    .map((c) => c.at)
    .sort((a, b) => a - b);
  let stall = 0;
  let prev = start;
  for (const t of [...ats, end]) {
    stall = Math.max(stall, t - prev);
    prev = t;
  }
  return {
    ms: end - start,
    commits: lat.length,
    failed: load.failures - m.failures,
    p50: r1(quantile(lat, 0.5)),
    p99: r1(quantile(lat, 0.99)),
    max: r1(Math.max(...lat, 0)),
    stallMs: stall,
    parentCpuS: r1(serverCpuSeconds(dataDir) - m.parentCpu),
    benchCpuS: r1(selfCpuSeconds() - m.benchCpu),
    load: loadAverage(),
  };
}

async function main(): Promise<void> {
  const pg = await startPostgres({ major: MAJOR, settings: { fsync: "on", max_wal_size: "4GB", checkpoint_timeout: "30min" } });
  try {
    await pg.sql("CREATE DATABASE app");
    const loadBefore = loadAverage();
    const fillStart = Date.now();
    await pg.sql(`CREATE TABLE filler (id bigint PRIMARY KEY, n int, s text, ts timestamptz, amount numeric(12,2)); ${LOAD_SCHEMA}`, [], "app");
    for (let batch = 0; ; batch++) {
      const [{ mb }] = await pg.sql("SELECT pg_database_size(current_database()) / 1048576 AS mb", [], "app");
      if (Number(mb) >= TARGET_MB) break;
      await pg.sql(
        `INSERT INTO filler SELECT g, g % 1000, md5(g::text) || md5((g * 7)::text), now() - g * interval '1 second', g / 100.0
           FROM generate_series($1::bigint, $2::bigint) g`,
        [batch * 1_000_000 + 1, (batch + 1) * 1_000_000],
        "app",
      );
    }
    await pg.sql("CHECKPOINT");
    const [{ bytes }] = await pg.sql("SELECT pg_database_size('app')::bigint AS bytes");
    const parentMB = Math.round(Number(bytes) / 2 ** 20);
    console.error(`parent filled: ${parentMB} MB in ${((Date.now() - fillStart) / 1000).toFixed(1)} s (Postgres ${MAJOR}, ${tmpdir()})`);

    // the copy floor: the data directory's files, cp -r + sync, nothing else running; twice, the
    // first one reads the files into the page cache as they are for the branches after it
    const copyFloor = (): number => {
      const tmp = mkdtempSync(join(tmpdir(), "floe-bench-cp-"));
      try {
        const t0 = Date.now();
        execFileSync("cp", ["-r", pg.dataDir, join(tmp, "copy")]);
        execFileSync("sync", ["-f", tmp]);
        return Date.now() - t0;
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    };
    const cpColdMs = copyFloor();
    const cpMs = copyFloor();

    const load = new WriteLoad(pg.url("app"), CLIENTS, 0, true);
    await load.start();
    const mark = (): Mark => ({ at: Date.now(), failures: load.failures, parentCpu: serverCpuSeconds(pg.dataDir), benchCpu: selfCpuSeconds() });
    await sleep(1000); // warm up
    let m = mark();
    await sleep(5000);
    const baseline = phase(load, pg.dataDir, m);

    m = mark();
    const inst = await createBranch(pg.url("app"), { name: "bench_instance" });
    // the branch server's own CPU (replaying the WAL written during the copy, promotion), up to now
    const instance = { ...phase(load, pg.dataDir, m), branchMs: inst.elapsedMs, method: inst.method, branchServerCpuS: r1(serverCpuSeconds(inst.dataDir!)) };
    await sleep(2000);
    await deleteBranch(pg.url(), "bench_instance");
    await sleep(2000);

    m = mark();
    let waitOutcome = "";
    try {
      const b = await createBranch(pg.url("app"), { name: "bench_tpl_wait", strategy: "file_copy", timeoutMs: TEMPLATE_WAIT_S * 1000 });
      waitOutcome = `created in ${b.elapsedMs} ms`;
      await deleteBranch(pg.url(), b.name);
    } catch (e) {
      waitOutcome = `refused: ${(e as Error).message.slice(0, 120)}…`;
    }
    const templateWait = { ...phase(load, pg.dataDir, m), outcome: waitOutcome };
    await sleep(2000);

    m = mark();
    const tpl = await createBranch(pg.url("app"), { name: "bench_tpl_term", strategy: "file_copy", terminateConnections: true, timeoutMs: 60_000 });
    await load.progress(CLIENTS * 5); // until the clients are back
    const templateTerminate = { ...phase(load, pg.dataDir, m), branchMs: tpl.elapsedMs, terminated: tpl.terminated };
    await load.stop();
    await deleteBranch(pg.url(), "bench_tpl_term");

    const result = {
      major: MAJOR,
      parentMB,
      clients: CLIENTS,
      cpColdMs,
      cpMs,
      baseline,
      instance,
      templateWait,
      templateTerminate,
      ratios: {
        instanceP99VsBaseline: r1(instance.p99 / baseline.p99),
        instanceMsVsCp: +(instance.branchMs / cpMs).toFixed(2),
        templateTerminateP99VsBaseline: r1(templateTerminate.p99 / baseline.p99),
        instanceMsVsTemplateTerminateMs: +(instance.branchMs / templateTerminate.branchMs).toFixed(2),
      },
      loadBefore,
      loadAfter: loadAverage(),
    };
    const cpu = (p: Phase) => `CPU-s parent ${p.parentCpuS} bench ${p.benchCpuS}`;
    console.log(
      `branch of a ${parentMB} MB database under ${CLIENTS} writing clients (Postgres ${MAJOR}); load average before ${loadBefore.join(" ")}, after ${result.loadAfter.join(" ")}:\n` +
        `  baseline (${baseline.ms} ms)       p50 ${baseline.p50} ms  p99 ${baseline.p99} ms  max ${baseline.max} ms, ${baseline.commits} commits; ${cpu(baseline)}\n` +
        `  instance (${instance.method})  ${instance.branchMs} ms; clients p50 ${instance.p50} p99 ${instance.p99} ms (x${result.ratios.instanceP99VsBaseline} baseline) max ${instance.max} ms, longest stall ${instance.stallMs} ms, ${instance.failed} failed, ${instance.commits} commits; ${cpu(instance)} branch server ${instance.branchServerCpuS}\n` +
        `  template, waiting    ${templateWait.outcome}; clients p99 ${templateWait.p99} ms, ${templateWait.failed} failed; ${cpu(templateWait)}\n` +
        `  template, terminating ${templateTerminate.branchMs} ms; ${templateTerminate.terminated} sessions terminated, ${templateTerminate.failed} failed transactions, longest stall ${templateTerminate.stallMs} ms, p99 ${templateTerminate.p99} ms (x${result.ratios.templateTerminateP99VsBaseline}); ${cpu(templateTerminate)}\n` +
        `  cp -r + sync of the data directory ${cpMs} ms, ${cpColdMs} ms the first time (instance / cp = ${result.ratios.instanceMsVsCp})`,
    );
    console.log(JSON.stringify(result));
  } finally {
    await pg.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
