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
    child.on("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}:\n${out.slice(-4000)}`)),
    );
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
