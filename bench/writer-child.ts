/**
 * The CDC writer alone in a process, for the benchmarks (bench/efficiency.ts WriterChild): argv[2]
 * is the raw CDC config (JSON). Tells the parent over IPC when the writer streams (its initial copy
 * done) with the CPU it had used by then; SIGTERM stops it cleanly.
 */
import { parseCdcConfig } from "../runtime/cdc/config";
import { openCatalog } from "../runtime/cdc/catalog";
import { CdcWriter } from "../runtime/cdc/writer";
import { createLogger, log } from "../runtime/core/log";
import type { ChildMessage } from "./efficiency";

const send = (m: ChildMessage) => process.send?.(m);
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function main(): Promise<void> {
  const config = parseCdcConfig(JSON.parse(process.argv[2]));
  const catalog = await openCatalog(config);
  const quiet = process.env.FLOE_BENCH_WRITER_LOG ? log : createLogger({}, () => undefined);
  const writer = new CdcWriter(config, { catalog, log: quiet });
  process.once("SIGTERM", () => void writer.stop());
  send({ started: true, cpuSeconds: cpu() });
  const done = writer.run();
  writer.ready.then(
    () => send({ ready: true, cpuSeconds: cpu() }),
    () => undefined,
  );
  try {
    await done;
    send({ stopped: true, cpuSeconds: cpu() });
  } catch (e) {
    send({ failed: (e as Error).message });
    process.exitCode = 1;
  } finally {
    await (catalog as { close?: () => Promise<void> }).close?.();
    process.disconnect?.();
  }
}

main().catch((e) => {
  send({ failed: (e as Error).message });
  process.exit(1);
});
