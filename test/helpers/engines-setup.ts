/**
 * globalSetup of the engine tier: installs the readers (scripts/install-engines.sh, cached) and
 * starts one reader process (engines.py) for every test file of the tier, so one Spark session
 * serves them all. Its port goes to the test workers in FLOE_ENGINES_PORT; engines-teardown.ts
 * closes its stdin, which ends it.
 */
import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";

const ROOT = join(__dirname, "../..");

export default async function setup(): Promise<void> {
  const dir = execFileSync("bash", [join(ROOT, "scripts/install-engines.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  const child = spawn(join(dir, "venv/bin/python"), [join(__dirname, "engines.py"), join(dir, "jars")], {
    stdio: ["pipe", "pipe", "inherit"],
    // Spark binds to loopback only; polars plans Iceberg scans with pyiceberg (its plugin is not installed).
    env: { ...process.env, SPARK_LOCAL_IP: "127.0.0.1", POLARS_ICEBERG_PLANNER: "pyiceberg" },
  });
  (globalThis as Record<string, unknown>).__floeEngines = child;
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /LISTENING (\d+)/.exec(out);
      if (m) {
        child.stdout!.off("data", onData);
        child.stdout!.resume();
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`the engine reader process exited (code ${code}) before listening; output: ${out}`)));
  });
  process.env.FLOE_ENGINES_PORT = String(port);
}
