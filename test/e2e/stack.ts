/**
 * A throwaway stack of examples/local for end-to-end tests: a fresh file backend and data directory
 * in a temp dir, the Pulumi CLI from scripts/install-pulumi.sh, and helpers to read its state.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Client } from "pg";
import { type Progress, waitUntil, walProgress } from "../helpers/wait";

export const ROOT = resolve(__dirname, "..", "..");
export const PROGRAM = join(ROOT, "examples", "local");
export const CLI = join(ROOT, "dist", "runtime", "cli.js");

export class E2eStack {
  readonly tmp: string;
  private env: NodeJS.ProcessEnv;
  readonly timings: Record<string, number> = {};

  constructor(readonly stack: string) {
    if (!existsSync(CLI) || !existsSync(join(ROOT, "dist", "components", "index.js"))) {
      throw new Error("the build is missing: run npm run build (scripts/setup.sh does)");
    }
    const bin = execFileSync("bash", [join(ROOT, "scripts", "install-pulumi.sh")], { encoding: "utf8" }).trim();
    this.tmp = mkdtempSync(join(tmpdir(), "floe-e2e-"));
    chmodSync(this.tmp, 0o755); // the server user must reach the data directory inside
    const base = execFileSync("bash", ["-c", `source ${join(ROOT, "scripts", "pulumi-env.sh")} && env -0`], { encoding: "utf8" });
    const fromScript = Object.fromEntries(
      base
        .split("\0")
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    this.env = {
      ...fromScript,
      PATH: `${bin}:${process.env.PATH}`,
      PULUMI_BACKEND_URL: `file://${join(this.tmp, "state")}`,
      PULUMI_HOME: join(this.tmp, "pulumi-home"),
    };
    execFileSync("mkdir", ["-p", join(this.tmp, "state")]);
    this.pulumi(["stack", "init", "--secrets-provider", "passphrase"]);
    this.pulumi(["config", "set", "dataDir", this.dataDir]);
  }

  get dataDir(): string {
    return join(this.tmp, "data");
  }

  /** A pulumi command, synchronously (nothing else in this process runs meanwhile). */
  pulumi(args: string[], opts: { allowFail?: boolean } = {}): { code: number; out: string } {
    const r = spawnSync("pulumi", [...args, "--stack", this.stack, "--non-interactive"], {
      cwd: PROGRAM,
      env: this.env,
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    const out = (r.stdout ?? "") + (r.stderr ?? "");
    if (r.status !== 0 && !opts.allowFail) throw new Error(`pulumi ${args.join(" ")} exited with ${r.status}:\n${out.slice(-6000)}`);
    return { code: r.status ?? -1, out };
  }

  /** A pulumi command in the background: clients in this process keep running meanwhile. */
  pulumiAsync(args: string[], opts: { allowFail?: boolean } = {}): Promise<{ code: number; out: string }> {
    return new Promise((res, rej) => {
      const child = spawn("pulumi", [...args, "--stack", this.stack, "--non-interactive"], { cwd: PROGRAM, env: this.env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (out += d));
      child.on("error", rej);
      child.on("exit", (code) => {
        if (code !== 0 && !opts.allowFail) rej(new Error(`pulumi ${args.join(" ")} exited with ${code}:\n${out.slice(-8000)}`));
        else res({ code: code ?? -1, out });
      });
    });
  }

  timed<T>(label: string, fn: () => T): T {
    const t0 = Date.now();
    try {
      return fn();
    } finally {
      this.timings[label] = (Date.now() - t0) / 1000;
    }
  }

  outputs(): Record<string, any> {
    return JSON.parse(this.pulumi(["stack", "output", "--json", "--show-secrets"]).out.replace(/^[^{]*/, ""));
  }

  resources(): any[] {
    return JSON.parse(this.pulumi(["stack", "export", "--show-secrets"]).out.replace(/^[^{]*/, "")).deployment.resources ?? [];
  }

  /** pids and ports of every local resource, from the stack state. */
  processes(): { pids: number[]; ports: number[] } {
    const pids: number[] = [];
    const ports: number[] = [];
    for (const r of this.resources()) {
      const o = r.outputs ?? {};
      if (typeof o.pid === "number" && o.pid > 0) pids.push(o.pid);
      for (const k of ["port", "httpPort"]) if (typeof o[k] === "number" && o[k] > 0) ports.push(o[k]);
    }
    return { pids, ports };
  }

  /** destroy, drop the stack and its config file, remove the temp dir: nothing left behind. */
  dispose(): void {
    this.pulumi(["destroy", "--yes", "--skip-preview"], { allowFail: true });
    this.pulumi(["stack", "rm", "--yes", "--force"], { allowFail: true });
    rmSync(join(PROGRAM, `Pulumi.${this.stack}.yaml`), { force: true });
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

export function query(catalog: string, sql: string): Record<string, unknown>[] {
  const out = execFileSync(process.execPath, [CLI, "query", "--catalog", catalog, "--json", sql], { encoding: "utf8" });
  return JSON.parse(out);
}

/**
 * Polls `fn` until `ok` holds for what it returns. The wait follows progress, not the clock: a
 * changed value counts as progress (rows arriving), and so does any measure `progress` returns (how
 * far the source's replication slots got); it fails when nothing advanced for `idleMs` (default
 * 120 s), naming what it waited for and the last value seen. `ms` is how long it took.
 */
export async function pollUntil<T>(
  what: string,
  fn: () => T | Promise<T>,
  ok: (v: T) => boolean,
  opts: { progress?: () => Promise<Progress>; idleMs?: number } = {},
): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  let last: T | undefined;
  const value = await waitUntil(
    what,
    async () => {
      last = await fn();
      return ok(last) ? { last } : undefined;
    },
    {
      everyMs: 250,
      idleMs: opts.idleMs,
      progress: async () => ({ value: JSON.stringify(last), ...(opts.progress ? await opts.progress() : {}) }),
      explain: () => `last value ${JSON.stringify(last)?.slice(0, 2000)}`,
    },
  );
  return { value: value.last, ms: Date.now() - t0 };
}

/** How far the logical slots of the Postgres at `url` got (progress for a wait on the CDC writer). */
export const slotProgress = (url: string) => (): Promise<Progress> => withClient(url, (c) => walProgress(c));

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export const portFree = (port: number): Promise<boolean> =>
  new Promise<boolean>((res) => {
    const s = createServer();
    s.once("error", () => res(false));
    s.listen(port, "127.0.0.1", () => s.close(() => res(true)));
  });

export async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
