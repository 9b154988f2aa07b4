/**
 * The initial copy's data path. copyColumnsBinary: `COPY (SELECT …) TO STDOUT (FORMAT binary)`
 * decoded into columns of normalized values (runtime/cdc/copy-binary.ts), the default.
 * copyColumns: `COPY (SELECT …) TO STDOUT` in text format, decoded straight into columns of
 * canonical values (runtime/cdc/types.ts converters), without a row object per row.
 *
 * COPY's text format carries each value in its type's output form, exactly as a cursor FETCH in
 * text mode does (same session settings, same output functions), so the converters see the same
 * strings; only COPY's own escaping (\N for null, backslash escapes) is undone here. The server
 * streams while we decode: no round trip per batch as with FETCH.
 * https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2
 */
import type { Client } from "pg";
import { CopyBinaryDecoder, columnPlan, type BinaryColumnType } from "./copy-binary";
import type { ColumnBatch } from "../iceberg/datafiles";
import type { Converter, MappedType, PgColumn } from "./types";

/**
 * Columns of canonical values: columns[c][r] is column c of row r. A column whose values are all
 * int64 bigints (int8, timestamps ...) is a BigInt64Array: no heap object per value kept alive
 * until the commit, which is what the garbage collector spends its time on in a large copy.
 */
export interface ColumnChunk {
  columns: (unknown[] | BigInt64Array)[];
  rowCount: number;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const ESCAPES: Record<string, string> = { b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v" };

/** Undoes COPY text escaping (backslash sequences) of one field. */
export function unescapeCopyText(s: string): string {
  let out = "";
  let from = 0;
  for (let i = s.indexOf("\\"); i >= 0 && i < s.length; i = s.indexOf("\\", from)) {
    out += s.slice(from, i);
    const c = s[i + 1];
    if (c === undefined) throw new Error("COPY text: field ends in a lone backslash");
    if (c >= "0" && c <= "7") {
      let j = i + 1;
      while (j < i + 4 && j < s.length && s[j] >= "0" && s[j] <= "7") j++;
      out += String.fromCharCode(parseInt(s.slice(i + 1, j), 8));
      from = j;
    } else if (c === "x" && /^[0-9a-fA-F]/.test(s[i + 2] ?? "")) {
      const j = /^[0-9a-fA-F]{2}/.test(s.slice(i + 2, i + 4)) ? i + 4 : i + 3;
      out += String.fromCharCode(parseInt(s.slice(i + 2, j), 16));
      from = j;
    } else {
      out += ESCAPES[c] ?? c;
      from = i + 2;
    }
  }
  return out + s.slice(from);
}

/**
 * Decodes COPY text rows into columns, converting each non-null value. Feed it the CopyData
 * payloads in order; rows may span payloads. Calls `emit` every `chunkRows` rows and at the end.
 */
export class CopyTextDecoder {
  private columns: (unknown[] | BigInt64Array)[];
  /** Per column: values go to a BigInt64Array (until a value that is not an int64 bigint). */
  private typed: boolean[];
  private rows = 0;
  private rest?: Buffer;
  /** Rows decoded so far. */
  total = 0;

  constructor(
    private readonly converters: Converter[],
    private readonly emit: (chunk: ColumnChunk) => void,
    private readonly chunkRows = 65536,
  ) {
    this.columns = converters.map(() => []);
    this.typed = converters.map(() => false);
  }

  /** Stores column c of the current row, switching the column's representation as needed. */
  private store(c: number, r: number, v: unknown): void {
    const col = this.columns[c];
    if (this.typed[c]) {
      if (typeof v === "bigint" && v >= INT64_MIN && v <= INT64_MAX) {
        (col as BigInt64Array)[r] = v;
        return;
      }
      const plain: unknown[] = Array.from((col as BigInt64Array).subarray(0, r));
      plain[r] = v;
      this.columns[c] = plain;
      this.typed[c] = false;
      return;
    }
    if (r === 0 && typeof v === "bigint" && v >= INT64_MIN && v <= INT64_MAX) {
      const typed = new BigInt64Array(this.chunkRows);
      typed[0] = v;
      this.columns[c] = typed;
      this.typed[c] = true;
      return;
    }
    (col as unknown[])[r] = v;
  }

  push(data: Buffer): void {
    if (this.rest) {
      data = Buffer.concat([this.rest, data]);
      this.rest = undefined;
    }
    // Postgres sends one row per CopyData message; a row split across messages waits for its end
    // as bytes (a multi-byte character may be split too).
    const last = data.lastIndexOf(10);
    if (last < data.length - 1) this.rest = Buffer.from(data.subarray(last + 1));
    if (last < 0) return;
    const text = data.toString("utf8", 0, last + 1);
    let start = 0;
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
      this.row(text, start, nl);
      start = nl + 1;
    }
  }

  private row(text: string, start: number, end: number): void {
    const conv = this.converters;
    const cols = this.columns;
    const typed = this.typed;
    const n = conv.length;
    const r = this.rows;
    let from = start;
    for (let c = 0; c < n; c++) {
      const tab = text.indexOf("\t", from);
      const last = c === n - 1;
      if (last ? tab >= 0 && tab < end : tab < 0 || tab > end) {
        throw new Error(`COPY text: row ${this.total + 1} does not have the ${n} fields expected`);
      }
      const to = last ? end : tab;
      if (to - from === 2 && text.charCodeAt(from) === 92 && text.charCodeAt(from + 1) === 78) {
        if (typed[c] || r === 0) this.store(c, r, null);
        else (cols[c] as unknown[])[r] = null; // \N
      } else {
        let v = text.slice(from, to);
        if (v.indexOf("\\") >= 0) v = unescapeCopyText(v);
        const value = conv[c](v);
        if (typed[c] || r === 0) this.store(c, r, value);
        else (cols[c] as unknown[])[r] = value;
      }
      from = to + 1;
    }
    this.rows = r + 1;
    this.total++;
    if (this.rows >= this.chunkRows) this.flush();
  }

  /** Emits the buffered rows (if any). */
  flush(): void {
    if (this.rest) throw new Error("COPY text: data ends in the middle of a row");
    if (this.rows === 0) return;
    const n = this.rows;
    const chunk = { columns: this.columns.map((c) => (c instanceof BigInt64Array ? c.subarray(0, n) : c)), rowCount: n };
    this.columns = this.converters.map(() => []);
    this.typed = this.converters.map(() => false);
    this.rows = 0;
    this.emit(chunk);
  }
}

/** node-postgres internals the COPY needs: the socket under the client, and the listener its protocol parser reads it with. */
type Socket = {
  listeners(e: "data"): ((b: Buffer) => void)[];
  on(e: "data", fn: (b: Buffer) => void): void;
  removeListener(e: "data", fn: (b: Buffer) => void): void;
};

/**
 * Takes the CopyData messages of a COPY OUT off the socket before node-postgres's parser, which
 * makes a Buffer and a message object of each (one per row: as much CPU as decoding the row):
 * `onCopyData` gets a view (buffer, start, end) of the socket's bytes instead. Every other message
 * (CopyOutResponse, CopyDone, CommandComplete, ErrorResponse, notices, ReadyForQuery) goes to
 * node-postgres's own listener as before, in order; at ReadyForQuery it has the socket back.
 * Returns a function that gives it back at once (the query failed to start).
 */
export function takeCopyData(client: Client, onCopyData: (b: Buffer, start: number, end: number) => void): () => void {
  const socket = (client as unknown as { connection: { stream: Socket } }).connection.stream;
  const theirs = socket.listeners("data");
  // A message cut at the end of a chunk: its pieces so far (joined once it is complete), and its
  // whole length once its header is in (0 before).
  let pieces: Buffer[] = [];
  let have = 0;
  let size = 0;
  let copying = false;
  let taken = true;
  const forward = (b: Buffer) => {
    for (const fn of theirs) fn.call(socket, b);
  };
  const giveBack = () => {
    if (!taken) return;
    taken = false;
    socket.removeListener("data", mine);
    for (const fn of theirs) socket.on("data", fn);
  };
  /** One whole message; false once the socket is given back (after ReadyForQuery). */
  const message = (buf: Buffer, pos: number, end: number): boolean => {
    const code = buf[pos];
    if (code === 0x64 && copying) {
      onCopyData(buf, pos + 5, end); // 'd' CopyData
      return true;
    }
    if (code === 0x48) copying = true; // 'H' CopyOutResponse
    forward(buf.subarray(pos, end));
    if (code !== 0x5a) return true;
    giveBack(); // 'Z' ReadyForQuery: the command is over
    return false;
  };
  function mine(chunk: Buffer): void {
    let pos = 0;
    if (have > 0) {
      // complete the cut message from the front of this chunk
      while (pos < chunk.length && (size === 0 || have < size)) {
        const piece = chunk.subarray(pos, pos + (size === 0 ? 5 - have : size - have));
        pieces.push(piece);
        have += piece.length;
        pos += piece.length;
        if (size === 0 && have >= 5) {
          pieces = [Buffer.concat(pieces)];
          size = 1 + pieces[0].readUInt32BE(1);
        }
      }
      if (size === 0 || have < size) return;
      const whole = pieces.length === 1 ? pieces[0] : Buffer.concat(pieces);
      pieces = [];
      have = size = 0;
      if (!message(whole, 0, whole.length)) {
        if (pos < chunk.length) forward(chunk.subarray(pos));
        return;
      }
    }
    while (pos + 5 <= chunk.length) {
      const end = pos + 1 + chunk.readUInt32BE(pos + 1);
      if (end > chunk.length) break;
      if (!message(chunk, pos, end)) {
        if (end < chunk.length) forward(chunk.subarray(end));
        return;
      }
      pos = end;
    }
    if (pos < chunk.length) {
      pieces = [chunk.subarray(pos)];
      have = chunk.length - pos;
      if (have >= 5) size = 1 + chunk.readUInt32BE(pos + 1);
    }
  }
  for (const fn of theirs) socket.removeListener("data", fn);
  socket.on("data", mine);
  return giveBack;
}

/**
 * Runs a `COPY … TO STDOUT` on `client` and feeds every data payload to `onData` (a view of the
 * socket's bytes from `start` to `end`: keep nothing of it), synchronously as it arrives. An
 * error thrown by `onData` (or sent by the server) rejects at once and the rest of the data is
 * ignored: end the connection then. Resolves with the row count once the server has finished
 * the command.
 */
export function copyOut(client: Client, sql: string, onData: (data: Buffer, start: number, end: number) => void): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let failed: unknown;
    let rows = 0;
    const data = (b: Buffer, start: number, end: number) => {
      if (failed !== undefined) return;
      try {
        onData(b, start, end);
      } catch (e) {
        // Stop here: the caller ends the connection, which aborts the COPY on the server.
        failed = e;
        reject(e);
      }
    };
    let giveBack: (() => void) | undefined;
    // A pg "submittable": the client hands it the protocol messages of its query.
    const submittable = {
      submit(connection: { query(text: string): void }): void {
        giveBack = takeCopyData(client, data);
        connection.query(sql);
      },
      handleCopyData(msg: { chunk: Buffer }): void {
        data(msg.chunk, 0, msg.chunk.length); // CopyData that came before the socket was taken
      },
      handleCommandComplete(msg: { text?: string }): void {
        const m = /^COPY (\d+)/.exec(msg.text ?? "");
        if (m) rows = Number(m[1]);
      },
      handleReadyForQuery(): void {
        giveBack?.();
        if (failed !== undefined) reject(failed);
        else resolve(rows);
      },
      handleError(err: Error): void {
        failed ??= err;
        reject(failed);
      },
      handleEmptyQuery(): void {},
      handleRowDescription(): void {},
      handleDataRow(): void {},
      handlePortalSuspended(): void {},
      handleCopyInResponse(): void {
        failed ??= new Error("COPY FROM is not supported here");
      },
    };
    (client.query as unknown as (q: unknown) => void)(submittable);
  });
}

/**
 * Copies the result of `select` (text COPY) into column chunks of canonical values, one
 * converter per selected column; returns the row count.
 */
export async function copyColumns(client: Client, select: string, converters: Converter[], emit: (chunk: ColumnChunk) => void): Promise<number> {
  const decoder = new CopyTextDecoder(converters, emit);
  const reported = await copyOut(client, `COPY (${select}) TO STDOUT`, (b, start, end) => decoder.push(b.subarray(start, end)));
  decoder.flush();
  if (reported !== decoder.total) throw new Error(`COPY reported ${reported} rows but ${decoder.total} arrived`);
  return decoder.total;
}

/** A column to copy: its name and how it decodes (runtime/cdc/copy-binary.ts). */
export interface CopyColumn extends BinaryColumnType {
  name: string;
}

/** How the copy decodes each source column, from its Postgres description and its mapping to Iceberg. */
export const copyColumnsOf = (columns: { pg: PgColumn; mapped: MappedType }[]): CopyColumn[] =>
  columns.map((c) => ({
    name: c.pg.name,
    typeName: c.pg.typeName,
    typType: c.pg.typType,
    elemTypeName: c.pg.elemTypeName,
    iceberg: c.mapped.iceberg,
    convert: c.mapped.convert,
  }));

/**
 * A chunk of copied columns as a batch for the table's write: the source's columns by `names`,
 * then a changelog table's metadata columns (`meta`, the same value on every row; none for a
 * mirror table).
 */
export function copyBatch(chunk: ColumnChunk, names: string[], normalized: (string | undefined)[], meta: Record<string, unknown>): ColumnBatch {
  const metaNames = Object.keys(meta);
  if (metaNames.length === 0) return { names, columns: chunk.columns, rowCount: chunk.rowCount, normalized };
  return {
    names: [...names, ...metaNames],
    columns: [...chunk.columns, ...metaNames.map((k) => new Array(chunk.rowCount).fill(meta[k]))],
    rowCount: chunk.rowCount,
    normalized: [...normalized, ...metaNames.map(() => undefined)],
  };
}

/** SQLSTATEs that mean another connection cannot join the copy now: lock not available, too many connections. */
export const UNAVAILABLE = new Set(["55P03", "53300", "53400"]);

/**
 * Puts a connection into an exported snapshot (REPEATABLE READ, read only) holding `rel`'s ACCESS
 * SHARE lock, or fails at once when the lock is not free (a DDL waits for the first connection's
 * lock: waiting behind it would wait for the copy itself).
 */
export async function joinSnapshot(client: Client, snapshotName: string, rel: string): Promise<void> {
  await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  await client.query(`SET TRANSACTION SNAPSHOT '${snapshotName}'`);
  await client.query(`LOCK TABLE ${rel} IN ACCESS SHARE MODE NOWAIT`);
}

/** Per column, the Iceberg type copyColumnsBinary's values are normalized for (undefined: canonical, from the text converter). */
export function normalizedTypes(columns: CopyColumn[]): (string | undefined)[] {
  return columns.map((c) => (columnPlan(c).kind === "text" || typeof c.iceberg !== "string" ? undefined : c.iceberg));
}

const quote = (s: string): string => `"${s.replace(/"/g, '""')}"`;

/**
 * Copies `columns` of `from` (a quoted table name; `where` an optional condition) as binary COPY
 * into chunks of normalized columns; returns the row count. A column without a binary decoder is
 * selected through its type's output function (its text form, as text COPY sends it).
 */
export async function copyColumnsBinary(
  client: Client,
  from: string,
  columns: CopyColumn[],
  emit: (chunk: ColumnChunk) => void,
  opts: { where?: string; chunkRows?: number; onProgress?: (rows: number, bytes: number) => void } = {},
): Promise<number> {
  const textual = columns.filter((c) => columnPlan(c).kind === "text");
  const output = new Map<string, string>();
  if (textual.length) {
    const r = await client.query(
      `SELECT a.attname AS name, t.typoutput::regproc::text AS out FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
       WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
      [from],
    );
    for (const row of r.rows as { name: string; out: string }[]) output.set(row.name, row.out);
  }
  const list = columns
    .map((c) => {
      if (columnPlan(c).kind !== "text") return quote(c.name);
      const out = output.get(c.name);
      if (!out) throw new Error(`COPY: column ${c.name} of ${from} has no output function`);
      return `${out}(${quote(c.name)})`;
    })
    .join(", ");
  const decoder = new CopyBinaryDecoder(columns, emit, opts.chunkRows);
  let reported = 0;
  const select = `SELECT ${list} FROM ${from}${opts.where ? ` WHERE ${opts.where}` : ""}`;
  let lastProgress = 0;
  reported = await copyOut(client, `COPY (${select}) TO STDOUT (FORMAT binary)`, (b, start, end) => {
    decoder.push(b, start, end);
    if (opts.onProgress && decoder.total - lastProgress >= 65536) {
      lastProgress = decoder.total;
      opts.onProgress(decoder.total, decoder.bytes);
    }
  });
  decoder.flush();
  if (!decoder.complete) throw new Error("COPY binary: the stream ended without its trailer");
  if (reported !== decoder.total) throw new Error(`COPY reported ${reported} rows but ${decoder.total} arrived`);
  opts.onProgress?.(decoder.total, decoder.bytes);
  return decoder.total;
}
