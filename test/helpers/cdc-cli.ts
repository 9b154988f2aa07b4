/**
 * `floe cdc run` as a child process, for tests of how it ends (exit code, the one message) and
 * what it reports while it runs (/healthz, /metrics).
 */
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SqlCatalog, Table } from "../../runtime/iceberg";
import { lines, readIceberg } from "./compare";

const CLI = join(__dirname, "../../dist/runtime/cli.js");

export interface WriterProcess {
  child: ChildProcess;
  /** Everything it wrote to stderr so far (its JSON log lines and, at a permanent error, the message). */
  stderr(): string;
  /** Resolves with the exit code once it exited by itself; rejects after `timeoutMs` naming what it waited for. */
  exited(timeoutMs?: number): Promise<number | null>;
  kill(): Promise<void>;
}

export function startWriterProcess(config: unknown, dir: string, env: NodeJS.ProcessEnv = {}): WriterProcess {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm test does)`);
  const file = join(dir, `cdc-${process.hrtime.bigint()}.json`);
  writeFileSync(file, JSON.stringify(config));
  const child = spawn(process.execPath, [CLI, "cdc", "run", "--config", file], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, FLOE_LOG_LEVEL: "info", ...env },
  });
  let err = "";
  child.stderr!.on("data", (d) => {
    err += d;
    if (process.env.FLOE_TEST_LOG) process.stderr.write(d);
  });
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    stderr: () => err,
    async exited(timeoutMs = 60_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`floe cdc run did not exit within ${timeoutMs} ms; stderr:\n${err.slice(-3000)}`)), timeoutMs);
      });
      try {
        return await Promise.race([exit, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exit;
    },
  };
}

/** Runs the writer until it exits by itself: its exit code and the last non-JSON line of stderr (the message). */
export async function runToExit(config: unknown, dir: string, timeoutMs = 60_000): Promise<{ code: number | null; message: string; stderr: string }> {
  const w = startWriterProcess(config, dir);
  try {
    const code = await w.exited(timeoutMs);
    const plain = w
      .stderr()
      .split("\n")
      .filter((l) => l.trim() && !l.startsWith("{"));
    return { code, message: plain.join("\n"), stderr: w.stderr() };
  } finally {
    await w.kill();
  }
}

export async function healthz(port: number, path: "/healthz" | "/livez" = "/healthz"): Promise<{ status: number; body: any }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, body: await r.json() };
}

/** The sum of a metric's samples whose line matches `name` (with labels, e.g. `floe_cdc_errors_total{kind="connection"}`). */
export async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith(name + " ") || l.startsWith(name + "{") || (name.includes("{") && l.startsWith(name)))
    .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
}

/** The rows of an Iceberg table of the SQL catalog, as sorted JSON lines. */
export async function icebergLines(catalogUri: string, warehouse: string, name: string, ssl?: unknown): Promise<string[]> {
  const cat = await SqlCatalog.connect({ name: "floe", pool: { connectionString: catalogUri, max: 1, ssl: ssl as never }, warehouse });
  try {
    const t = await Table.load(cat, { namespace: ["floe"], name });
    return lines(readIceberg(t.metadata.location, t.schema().fields));
  } finally {
    await cat.close();
  }
}
