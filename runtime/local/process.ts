/**
 * Running server processes (Postgres, pgBouncer) on this machine. Both refuse to run as root, so
 * when floe runs as root they are started as an unprivileged system user (FLOE_RUN_AS, default
 * "floe"), which scripts/setup.sh creates.
 */
import { execFileSync, spawn, SpawnOptions } from "node:child_process";
import { chownSync } from "node:fs";
import { createServer } from "node:net";

export interface RunAs {
  uid: number;
  gid: number;
  user: string;
}

let cached: RunAs | null | undefined;

/** The user servers run as: null when we are not root (run as ourselves). */
export function serverUser(): RunAs | null {
  if (cached !== undefined) return cached;
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return (cached = null);
  const user = process.env.FLOE_RUN_AS ?? "floe";
  try {
    const uid = Number(execFileSync("id", ["-u", user]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", user]).toString().trim());
    return (cached = { uid, gid, user });
  } catch {
    throw new Error(
      `running as root, and Postgres/pgBouncer refuse root: create the unprivileged user "${user}" ` +
        `(bash scripts/setup.sh does: useradd --system ${user}) or set FLOE_RUN_AS to an existing one`,
    );
  }
}

/** Give a path to the server user (no-op when not root). */
export function handOver(path: string): void {
  const u = serverUser();
  if (u) chownSync(path, u.uid, u.gid);
}

/** spawn() options that drop to the server user when we are root. */
export function asServerUser(opts: SpawnOptions = {}): SpawnOptions {
  const u = serverUser();
  const env = { ...process.env, ...(opts.env ?? {}) };
  if (!u) return { ...opts, env };
  return { ...opts, uid: u.uid, gid: u.gid, env: { ...env, HOME: "/tmp", USER: u.user } };
}

/** Run a command to completion as the server user; throws with its output on failure. */
export function runAsServer(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...asServerUser(opts), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}:\n${out.slice(-4000)}`))));
  });
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether a process (or, with `group`, any process of the group `pid` leads) exists. 0 is never alive. */
export function isAlive(pid: number, group = false): boolean {
  if (!pid) return false;
  try {
    process.kill(group ? -pid : pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the process has exited; throws naming `what` past `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number, what = `process ${pid}`, group = false): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; isAlive(pid, group);) {
    if (Date.now() > deadline) throw new Error(`${what} (pid ${pid}) did not exit within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/**
 * Stops a process: each step sends its signal and waits up to its time for the process to exit
 * before the next step; throws naming `what` when it still runs after the last one. `group` signals
 * the whole process group `pid` leads (a detached supervisor and its child). A process already gone
 * (or pid 0) is fine.
 */
export async function stopProcess(pid: number, steps: [NodeJS.Signals, number][], what = `process ${pid}`, group = false): Promise<void> {
  for (const [signal, waitMs] of steps) {
    if (!isAlive(pid, group)) return;
    try {
      process.kill(group ? -pid : pid, signal);
    } catch {
      return; // gone meanwhile
    }
    for (const until = Date.now() + waitMs; isAlive(pid, group) && Date.now() < until;) await sleep(50);
  }
  if (isAlive(pid, group)) throw new Error(`${what} (pid ${pid}) did not stop after ${steps.map(([s, ms]) => `${s} + ${ms} ms`).join(", ")}`);
}
