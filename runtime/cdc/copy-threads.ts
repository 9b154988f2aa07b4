/**
 * The initial copy of a large table on worker threads: each lane is a thread (runtime/cdc/copy-worker.ts)
 * with its own connection in the copy's exported snapshot, taking ctid ranges from one queue,
 * decoding them and encoding Parquet files; the files come back here and go into the table's one
 * write transaction (WriteTransaction.addEncoded), so the table still lands in one commit.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { Logger } from "../core/log";
import type { EncodedFile } from "../iceberg/datafiles";
import type { DataFileRecord } from "../iceberg/manifests";
import type { WriteTransaction } from "../iceberg/table";
import type { CopyWorkerInit, FromWorker, ToWorker, WorkerFile } from "./copy-worker";

/**
 * The compiled worker script. Absent when floe runs from its TypeScript sources (ts-jest): a
 * thread cannot load those, and the copy decodes on the main thread instead.
 */
export const COPY_WORKER: string | undefined = ((p) => (existsSync(p) ? p : undefined))(join(__dirname, "copy-worker.js"));

export interface ThreadedCopy {
  init: CopyWorkerInit;
  /** Threads to start, one connection each. */
  lanes: number;
  /** The ranges to copy (WHERE conditions); the lanes take them from the front. */
  ranges: (string | undefined)[];
  write: WriteTransaction;
  log: Logger;
  /** More rows and bytes copied (by any lane). */
  progress(rows: number, bytes: number): void;
}

/** Bounds and partition values cross the thread boundary as Uint8Arrays: the manifest writer takes Buffers. */
const asBuffer = (v: unknown): unknown => (v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v);

function received(f: WorkerFile): EncodedFile {
  const record = f.record as DataFileRecord;
  for (const kv of [record.lower_bounds ?? [], record.upper_bounds ?? []]) for (const e of kv) e.value = asBuffer(e.value) as Buffer;
  for (const k of Object.keys(record.partition)) record.partition[k] = asBuffer(record.partition[k]);
  return { path: f.path, bytes: f.bytes, record, keys: f.keys instanceof Float64Array ? Array.from(f.keys) : f.keys, specId: f.specId };
}

/**
 * Copies ranges on worker threads until none is left; returns the rows copied and how many lanes
 * joined the snapshot (a lane whose connection or lock is not free leaves its ranges to the
 * others; with none joined the ranges are left for the caller). The first failure stops every
 * lane (their connections close with their threads) and is thrown.
 */
export async function copyInThreads(job: ThreadedCopy): Promise<{ rows: number; joined: number }> {
  if (!COPY_WORKER) throw new Error("the copy worker script is missing (floe runs from sources): copy on the main thread");
  const script = COPY_WORKER;
  const workers: Worker[] = [];
  const copied = new Array<{ rows: number; bytes: number }>(job.lanes).fill({ rows: 0, bytes: 0 });
  let failed = false;
  let cause: Error | undefined; // the first failure (the other lanes then end because they are stopped)
  const stopAll = () => {
    failed = true;
    for (const w of workers) void w.terminate();
  };
  const lane = (i: number) =>
    new Promise<{ rows: number; joined: boolean }>((resolve, reject) => {
      const w = new Worker(script, { workerData: { copyWorker: job.init } });
      workers.push(w);
      let settled = false;
      const send = (m: ToWorker) => w.postMessage(m);
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        cause ??= e;
        stopAll();
        reject(e);
      };
      const end = (result: { rows: number; joined: boolean }) => {
        settled = true;
        void w.terminate();
        resolve(result);
      };
      w.on("message", (m: FromWorker) => {
        switch (m.type) {
          case "joined":
            return;
          case "unavailable":
            job.log.info("the copy goes on with fewer connections", { table: job.init.table, reason: m.reason });
            return end({ rows: 0, joined: false });
          case "next":
            return send(failed || job.ranges.length === 0 ? { type: "done" } : { type: "range", where: job.ranges.shift() });
          case "file":
            if (failed) return; // the write is being aborted: nothing more goes into it
            Promise.resolve()
              .then(() => job.write.addEncoded([received(m.file)]))
              .then(() => send({ type: "written" }), fail);
            return;
          case "progress": {
            const before = copied[i];
            copied[i] = { rows: m.rows, bytes: m.bytes };
            return job.progress(m.rows - before.rows, m.bytes - before.bytes);
          }
          case "finished":
            return end({ rows: m.rows, joined: true });
          case "error":
            return fail(Object.assign(new Error(m.message), m.code ? { code: m.code } : {}));
        }
      });
      w.on("error", fail);
      w.on("exit", (code) => fail(new Error(`the copy thread of ${job.init.table} ended (exit code ${code}) before its ranges were copied`)));
    });
  const settled = await Promise.allSettled(Array.from({ length: job.lanes }, (_, i) => lane(i)));
  if (cause) throw cause;
  const done = settled.map((x) => (x as PromiseFulfilledResult<{ rows: number; joined: boolean }>).value);
  return { rows: done.reduce((a, d) => a + d.rows, 0), joined: done.filter((d) => d.joined).length };
}
