/** globalTeardown of the engine tier: ends the reader process that engines-setup.ts started. */
import type { ChildProcess } from "node:child_process";

export default async function teardown(): Promise<void> {
  const child = (globalThis as Record<string, unknown>).__floeEngines as ChildProcess | undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.stdin!.end();
  await exited;
}
