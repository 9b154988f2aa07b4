/**
 * A worker thread of the initial copy (runtime/cdc/copy-threads.ts starts it): its own connection
 * joins the copy's exported snapshot, copies the ctid ranges the main thread hands it (binary
 * COPY decoded into columns, runtime/cdc/copy.ts), and encodes them into Parquet data files for
 * the write's layout (runtime/iceberg/datafiles.ts encodeColumns). The files' bytes, records and
 * keys go back to the main thread, which writes them into the one write transaction of the table:
 * decoding and encoding run on as many cores as the copy has connections, and the table still
 * lands in one commit.
 *
 * Messages: the worker says `joined` (or `unavailable`: the lock or a connection was not free,
 * the copy goes on without it), asks for the `next` range, gets `range` or `done`, sends each
 * `file` (acknowledged by `written`), `progress`, and at the end `finished`; any failure is `error`.
 */
import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { Client } from "pg";
import { pgConfig, type TlsSettings } from "../core/postgres-tls";
import { encodeColumns, normalizeBatches, columnKeys, type ColumnBatch, type FileLayout } from "../iceberg/datafiles";
import type { IndexKey } from "../iceberg/pkindex";
import { distinctKeys } from "../iceberg/plan";
import { columnsBytes } from "../iceberg/spill";
import { fieldCodec } from "../iceberg/values";
import { copyBatch, copyColumnsBinary, copyColumnsOf, joinSnapshot, normalizedTypes, UNAVAILABLE } from "./copy";
import { mapColumn, SESSION_OPTIONS, type PgColumn } from "./types";

/** What a copy worker is started with (plain data: it is cloned into the thread). */
export interface CopyWorkerInit {
  /** The source's connection: its URL and TLS settings (runtime/core/postgres-tls.ts), and its name for messages. */
  url: string;
  tls: TlsSettings;
  what: string;
  snapshotName: string;
  /** The quoted source table, and its name for messages. */
  rel: string;
  table: string;
  columns: PgColumn[];
  /** Mirror tables get each file's keys (and repeated keys dropped, the last wins); changelog rows get `meta` (copy.ts copyBatch; empty for a mirror). */
  mode: "mirror" | "changelog";
  meta: Record<string, unknown>;
  layout: FileLayout;
  /** Decoded rows (estimated heap bytes) buffered before they are encoded into files. */
  flushBytes: number;
}

export type ToWorker = { type: "range"; where?: string } | { type: "done" } | { type: "written" };

/** A data file as it crosses to the main thread: number keys as a Float64Array (transferred, not cloned). */
export interface WorkerFile {
  path: string;
  bytes: Uint8Array;
  record: unknown;
  keys: Float64Array | IndexKey[];
  specId: number;
}

export type FromWorker =
  | { type: "joined" }
  | { type: "unavailable"; reason: string }
  | { type: "next" }
  | { type: "file"; file: WorkerFile }
  | { type: "progress"; rows: number; bytes: number }
  | { type: "finished"; rows: number }
  | { type: "error"; message: string; code?: string };

/** Unfinished files the main thread may hold per worker before the worker stops reading. */
const IN_FLIGHT = 2;

class Inbox {
  private readonly queue: ToWorker[] = [];
  private waiter?: (m: ToWorker) => void;
  onWritten = () => {};
  constructor(port: MessagePort) {
    port.on("message", (m: ToWorker) => {
      if (m.type === "written") return this.onWritten();
      const w = this.waiter;
      this.waiter = undefined;
      if (w) w(m);
      else this.queue.push(m);
    });
  }
  next(): Promise<ToWorker> {
    const m = this.queue.shift();
    return m ? Promise.resolve(m) : new Promise((r) => (this.waiter = r));
  }
}

async function run(init: CopyWorkerInit, port: MessagePort): Promise<void> {
  const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
  const inbox = new Inbox(port);
  const ident = (s: string) => s;
  const client = new Client({ ...pgConfig(init.url, init.tls, init.what), options: SESSION_OPTIONS, types: { getTypeParser: () => ident } } as never);
  client.on("error", () => undefined); // the query in flight fails with it
  try {
    await client.connect();
    await joinSnapshot(client, init.snapshotName, init.rel);
  } catch (e) {
    await client.end().catch(() => undefined);
    const code = (e as { code?: string }).code;
    if (code && UNAVAILABLE.has(code)) return post({ type: "unavailable", reason: (e as Error).message });
    throw e;
  }
  post({ type: "joined" });
  const socket = (client as unknown as { connection: { stream: { pause(): void; resume(): void } } }).connection.stream;
  const copyCols = copyColumnsOf(init.columns.map((pg) => ({ pg, mapped: mapColumn(pg, init.table) })));
  const normalized = normalizedTypes(copyCols);
  const schema = init.layout.schema;
  const codecs = schema.fields.map(fieldCodec);
  const keyCodecs = (schema["identifier-field-ids"] ?? []).map((id) => codecs.find((c) => c.field.id === id)!);
  const names = init.columns.map((c) => c.name);
  let batches: ColumnBatch[] = [];
  let buffered = 0;
  let bufferedRows = 0;
  let unacked = 0;
  let paused = false;
  let drained: (() => void) | undefined;
  inbox.onWritten = () => {
    unacked--;
    if (paused && unacked < IN_FLIGHT) {
      paused = false;
      socket.resume();
    }
    if (unacked === 0) drained?.();
  };

  /** Encodes the buffered rows into files and sends them; stops reading the server while too many are unwritten. */
  const flush = () => {
    if (batches.length === 0) return;
    let { columns, rowCount } = normalizeBatches(codecs, batches, true);
    batches = [];
    buffered = 0;
    bufferedRows = 0;
    let keys: IndexKey[] | undefined;
    if (init.mode === "mirror") {
      keys = columnKeys(keyCodecs, codecs, columns as ArrayLike<unknown>[], rowCount);
      if (!distinctKeys(keys)) ({ columns, rowCount, keys } = lastPerKey(columns, keys));
    }
    for (const f of encodeColumns(init.layout, codecs, columns, rowCount, keys)) {
      const bytes = f.bytes.byteOffset === 0 && f.bytes.byteLength === f.bytes.buffer.byteLength ? f.bytes : f.bytes.slice();
      const numeric = f.keys.every((k) => typeof k === "number");
      const sent = numeric ? Float64Array.from(f.keys as number[]) : f.keys;
      const transfer = [bytes.buffer as ArrayBuffer, ...(sent instanceof Float64Array ? [sent.buffer as ArrayBuffer] : [])];
      post({ type: "file", file: { path: f.path, bytes, record: f.record, keys: sent, specId: f.specId } }, transfer);
      unacked++;
    }
    if (unacked >= IN_FLIGHT && !paused) {
      paused = true;
      socket.pause();
    }
  };

  let rows = 0;
  let lastProgress = { rows: 0, bytes: 0 };
  for (;;) {
    post({ type: "next" });
    const m = await inbox.next();
    if (m.type !== "range") break;
    const before = lastProgress;
    rows += await copyColumnsBinary(
      client,
      init.rel,
      copyCols,
      (chunk) => {
        batches.push(copyBatch(chunk, names, normalized, init.meta));
        buffered += columnsBytes(chunk.columns, chunk.rowCount);
        bufferedRows += chunk.rowCount;
        if (buffered >= init.flushBytes || bufferedRows >= init.layout.rowsPerFile) flush();
      },
      {
        where: m.where,
        onProgress: (r, b) => {
          lastProgress = { rows: before.rows + r, bytes: before.bytes + b };
          post({ type: "progress", ...lastProgress });
        },
      },
    );
  }
  flush();
  if (unacked > 0) await new Promise<void>((r) => (drained = r));
  await client.query("COMMIT");
  await client.end().catch(() => undefined);
  post({ type: "finished", rows });
}

/** The last row of each key (a repeated key: the later row replaces the earlier, as upserts do). */
export function lastPerKey(columns: (unknown[] | BigInt64Array)[], keys: IndexKey[]): { columns: unknown[][]; rowCount: number; keys: IndexKey[] } {
  const last = new Map<IndexKey, number>();
  keys.forEach((k, r) => last.set(k, r));
  const kept = [...last.values()].sort((a, b) => a - b);
  return { columns: columns.map((c) => kept.map((r) => c[r])), rowCount: kept.length, keys: kept.map((r) => keys[r]) };
}

if (parentPort && workerData?.copyWorker) {
  const port = parentPort;
  run(workerData.copyWorker as CopyWorkerInit, port).catch((e: unknown) => {
    const err = e as { message?: string; code?: unknown };
    port.postMessage({ type: "error", message: err?.message ?? String(e), code: typeof err?.code === "string" ? err.code : undefined } satisfies FromWorker);
  });
}
