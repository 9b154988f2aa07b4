/**
 * What every writer benchmark prints about efficiency, measured one way: rows/s, the ratio to a
 * baseline measured in the same run, the writer's CPU-seconds per 1M rows (user + system of the
 * writer alone: a child process read through /proc, or this process when the writer is alone in
 * it), and the load average before and after, so that a run on a busy machine is recognisable.
 *
 * CPU-seconds hold under load where wall-clock rates do not: on a shared machine compare those.
 */
import { fork, spawnSync, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";

const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"]).stdout?.toString().trim() || 100);

/** CPU seconds (user + system, all threads) a live process has used so far, from /proc. */
export function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/**
 * CPU seconds a Postgres server has used so far: its postmaster (own plus reaped children: backends
 * that ended, the startup process after recovery) and the children alive now, found by parent pid.
 * The postmaster's pid is the first line of postmaster.pid in its data directory.
 */
export function serverCpuSeconds(dataDir: string): number {
  const pm = Number(readFileSync(`${dataDir}/postmaster.pid`, "utf8").split("\n")[0]);
  const fields = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  };
  const own = fields(pm);
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const f = fields(Number(entry));
      if (Number(f[1]) === pm) ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone meanwhile: its time is in the postmaster's reaped-children total
    }
  }
  return ticks / CLK_TCK;
}

/** CPU seconds (user + system, all threads) of this process so far. */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// floe supports Node 22 and later; on an older node the numbers are not floe's (Node 20 has no
// zlib zstd, so Parquet pages fall back to snappy in JS: 8 % of bench/cdc's copy CPU).
const NODE_MAJOR = Number(process.versions.node.split(".")[0]);
if (NODE_MAJOR < 22) {
  console.error(
    `bench: this is Node ${process.versions.node}, below floe's minimum 22: the numbers are not what floe does on a supported Node. ` +
      `Run it with the Node that setup installs: source scripts/node-env.sh && node dist/bench/…`,
  );
}

/** The 1, 5 and 15 minute load averages, rounded to 0.01. */
export function loadAverage(): number[] {
  return loadavg().map((x) => Math.round(x * 100) / 100);
}

/** One measured side of a comparison: rows moved, wall seconds and (when known) CPU seconds. */
export interface Side {
  label: string;
  rows: number;
  seconds: number;
  cpuSeconds?: number;
}

export interface Comparison {
  name: string;
  writer: Side;
  baseline: Side;
  /** What the ratio compares: rows/s (default) or CPU per row (baseline CPU / writer CPU). */
  by?: "rate" | "cpu";
  /** Load average when the measured phase started and ended. */
  loadBefore: number[];
  loadAfter: number[];
}

const rate = (s: Side) => s.rows / Math.max(s.seconds, 1e-9);
const per1M = (s: Side) => (s.cpuSeconds === undefined ? undefined : (s.cpuSeconds / s.rows) * 1e6);
const fmt = (n: number) => Math.round(n).toLocaleString("en");

/** The numbers of a comparison, for the bench's closing JSON line. */
export function summary(c: Comparison): Record<string, number | string | number[] | undefined> {
  const ratio = c.by === "cpu" ? (per1M(c.baseline) ?? NaN) / (per1M(c.writer) ?? NaN) : rate(c.writer) / rate(c.baseline);
  return {
    writerRowsPerSec: Math.round(rate(c.writer)),
    baselineRowsPerSec: Math.round(rate(c.baseline)),
    ratio: Number(ratio.toFixed(4)),
    ratioBy: c.by ?? "rate",
    writerCpuSeconds: c.writer.cpuSeconds === undefined ? undefined : Number(c.writer.cpuSeconds.toFixed(3)),
    writerCpuPer1M: per1M(c.writer) === undefined ? undefined : Number(per1M(c.writer)!.toFixed(3)),
    baselineCpuPer1M: per1M(c.baseline) === undefined ? undefined : Number(per1M(c.baseline)!.toFixed(3)),
    loadBefore: c.loadBefore,
    loadAfter: c.loadAfter,
  };
}

/** One line per comparison: rates, ratio, CPU per 1M rows and the load average around it. */
export function describe(c: Comparison): string {
  const s = summary(c);
  const cpu = (side: Side) => {
    const p = per1M(side);
    return p === undefined ? "" : `, ${p.toFixed(2)} CPU-s per 1M rows (${side.cpuSeconds!.toFixed(2)} CPU-s)`;
  };
  return (
    `${c.name}: ${c.writer.label} ${fmt(rate(c.writer))} rows/s${cpu(c.writer)}; ` +
    `${c.baseline.label} ${fmt(rate(c.baseline))} rows/s${cpu(c.baseline)}; ` +
    `ratio ${Number(s.ratio).toFixed(3)} by ${c.by === "cpu" ? "CPU per row" : "rows/s"}; ` +
    `${c.writer.rows.toLocaleString("en")} rows; load average ${c.loadBefore.join(" ")} -> ${c.loadAfter.join(" ")}`
  );
}

/** A wall clock plus this process's CPU, started now. */
export function stopwatch(): { seconds(): number; cpuSeconds(): number } {
  const t0 = process.hrtime.bigint();
  const c0 = selfCpuSeconds();
  return { seconds: () => Number(process.hrtime.bigint() - t0) / 1e9, cpuSeconds: () => selfCpuSeconds() - c0 };
}

/** Messages a writer child (bench/writer-child.ts) sends: when it is ready (streaming) with its own CPU then, and when it failed. */
export type ChildMessage =
  { started: true; cpuSeconds: number } | { ready: true; cpuSeconds: number } | { failed: string } | { stopped: true; cpuSeconds: number };

/**
 * The CDC writer in a child process of its own (bench/writer-child.ts), so its CPU is its alone:
 * readiness and the CPU it had used by then come over IPC, CPU at any other moment from /proc.
 */
export class WriterChild {
  private readonly child: ChildProcess;
  private readonly readyAt: Promise<number>;
  private readonly startedAt: Promise<{ cpuSeconds: number; at: bigint }>;
  private exited: Promise<void>;
  failure?: string;

  /**
   * `nodeArgs`: flags for the child's node (e.g. --cpu-prof, which NODE_OPTIONS refuses);
   * `script`: another build's writer-child.js (a baseline of the same bench from older code).
   */
  constructor(rawConfig: unknown, nodeArgs: string[] = [], script = require.resolve("./writer-child")) {
    this.child = fork(script, [JSON.stringify(rawConfig)], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: nodeArgs });
    this.exited = new Promise((resolve) => this.child.once("exit", () => resolve()));
    let started: (v: { cpuSeconds: number; at: bigint }) => void = () => undefined;
    // a child that dies before it starts (a bad node flag) must fail the bench, not leave a promise
    // that never settles: node would exit 0 without the bench's cleanup (its Postgres left running)
    this.startedAt = new Promise((resolve, reject) => {
      started = resolve;
      this.child.once("exit", (code) => reject(new Error(`writer child exited (${code}) before it started`)));
    });
    this.startedAt.catch(() => undefined);
    this.readyAt = new Promise((resolve, reject) => {
      this.child.on("message", (m: ChildMessage) => {
        if ("started" in m) started({ cpuSeconds: m.cpuSeconds, at: process.hrtime.bigint() });
        if ("ready" in m) resolve(m.cpuSeconds);
        if ("failed" in m) {
          this.failure = m.failed;
          reject(new Error(`writer child failed: ${m.failed}`));
        }
      });
      this.child.once("exit", (code) => reject(new Error(`writer child exited (${code}) before it was ready`)));
    });
    this.readyAt.catch(() => undefined);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** When the writer started (its modules loaded), with the child's CPU seconds then. */
  started(): Promise<{ cpuSeconds: number; at: bigint }> {
    return this.startedAt;
  }

  /** Resolves with the child's CPU seconds at the moment its initial copy was done and it streamed. */
  ready(): Promise<number> {
    return this.readyAt;
  }

  /** The child's CPU seconds so far (/proc). */
  cpuSeconds(): number {
    return procCpuSeconds(this.pid);
  }

  /** Stops the writer (SIGTERM: it stops cleanly) and waits for the child to exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null) this.child.kill("SIGTERM");
    await this.exited;
  }
}
