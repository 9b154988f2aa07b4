/**
 * Migration parsing with the real Postgres parser (libpg-query, the Postgres 18 grammar compiled to
 * wasm). Turns a SQL file into statements with their 1-based line/column, source text and the
 * per-statement opt-outs (`-- floe:allow rule-id[,rule-id] reason`). DO blocks are opened: the
 * static SQL inside their PL/pgSQL body is parsed too, so rules see it; dynamic SQL (EXECUTE) is
 * reported as such because it cannot be checked without running it.
 */
import * as pgq from "libpg-query";

let loaded: Promise<void> | undefined;
/** The wasm module loads once per process; every parse entry point awaits this first. */
export function loadParser(): Promise<void> {
  loaded ??= pgq.loadModule();
  return loaded;
}

export interface Statement {
  /** The node type, e.g. "AlterTableStmt"; "DynamicSql" for an EXECUTE inside a DO block. */
  kind: string;
  /** The node body (libpg-query JSON AST). */
  node: any;
  /** Source text of the statement (without the terminating semicolon). */
  text: string;
  line: number;
  column: number;
  /** rule id -> reason, from `floe:allow` comments attached to this statement (or its DO block). */
  allow: Map<string, string>;
  /** Set for statements found inside a DO block: the DO statement's line. */
  inDoBlock?: boolean;
  /** The PL/pgSQL body of a DO block could not be parsed. */
  doParseError?: string;
}

export class MigrationParseError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}:${column}: cannot parse: ${detail}`);
    this.name = "MigrationParseError";
  }
}

/** Converts UTF-8 byte offsets (what the parser reports) to string offsets. */
function byteToChar(text: string): (b: number) => number {
  if (/^[\x00-\x7f]*$/.test(text)) return (b) => b;
  const buf = Buffer.from(text, "utf8");
  return (b) => buf.subarray(0, b).toString("utf8").length;
}

/** 1-based line and column of a string offset. */
export function lineCol(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, column: offset - last };
}

/** Skips whitespace and comments from offset; returns the offset of the first token. */
function skipTrivia(text: string, i: number): number {
  for (;;) {
    while (i < text.length && /\s/.test(text[i])) i++;
    if (text.startsWith("--", i)) {
      const nl = text.indexOf("\n", i);
      i = nl < 0 ? text.length : nl + 1;
    } else if (text.startsWith("/*", i)) {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
    } else return i;
  }
}

const ALLOW_RE = /floe:allow[ \t]+([a-z0-9][a-z0-9,-]*)([^\n]*)/g;

/** Opt-outs in a chunk of source. An opt-out needs a reason; one without is not applied. */
export function parseAllows(chunk: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of chunk.matchAll(ALLOW_RE)) {
    const reason = (m[2] ?? "").replace(/\*\/.*$/, "").trim();
    if (!reason) continue;
    for (const id of m[1].split(",").filter(Boolean)) out.set(id, reason);
  }
  return out;
}

function unwrap(raw: any): { kind: string; node: any } {
  const kind = Object.keys(raw)[0];
  return { kind, node: raw[kind] };
}

/** Parses one migration file. Throws MigrationParseError with the failing line. */
export async function parseMigration(text: string, file = "<input>"): Promise<Statement[]> {
  await loadParser();
  let result: any;
  try {
    result = pgq.parseSync(text);
  } catch (e) {
    const details = (e as any).sqlDetails;
    // The parser's cursor is a 0-based count of characters (code points), unlike statement locations (bytes).
    const cp = Math.max(0, details?.cursorPosition ?? 0);
    const pos = Array.from(text).slice(0, cp).join("").length;
    const { line, column } = lineCol(text, pos);
    throw new MigrationParseError(file, line, column, (e as Error).message);
  }
  const toChar = byteToChar(text);
  const raw: any[] = result.stmts ?? [];
  const out: Statement[] = [];
  let prevEnd = 0;
  for (let idx = 0; idx < raw.length; idx++) {
    const s = raw[idx];
    const startRaw = toChar(s.stmt_location ?? 0);
    const endRaw = s.stmt_len != null ? toChar((s.stmt_location ?? 0) + s.stmt_len) : text.length;
    const start = skipTrivia(text, startRaw);
    let end = endRaw;
    if (text[end] === ";") end++;
    // A statement owns the comments from the line after the previous statement up to its own end,
    // plus a trailing comment on the line where it ends.
    const ownedStart = idx === 0 ? 0 : (() => {
      const nl = text.indexOf("\n", prevEnd);
      return nl < 0 ? prevEnd : nl + 1;
    })();
    const eol = text.indexOf("\n", end);
    const ownedEnd = eol < 0 ? text.length : eol;
    const allow = parseAllows(text.slice(Math.min(ownedStart, start), ownedEnd));
    prevEnd = end;
    const { kind, node } = unwrap(s.stmt);
    const { line, column } = lineCol(text, start);
    const stmtText = text.slice(start, endRaw).trim();
    const stmt: Statement = { kind, node, text: stmtText, line, column, allow };
    out.push(stmt);
    if (kind === "DoStmt") out.push(...(await openDoBlock(stmt)));
  }
  return out;
}

function doBody(node: any): { body: string; language: string } {
  let body = "";
  let language = "plpgsql";
  for (const a of node.args ?? []) {
    const d = a.DefElem;
    if (d?.defname === "as") body = d.arg?.String?.sval ?? "";
    if (d?.defname === "language") language = (d.arg?.String?.sval ?? "plpgsql").toLowerCase();
  }
  return { body, language };
}

/**
 * Walks a PL/pgSQL AST collecting every embedded SQL statement (expressions parsed as full
 * statements: plain SQL, PERFORM, FOR ... IN query, RETURN QUERY, OPEN cursor) with the line of the
 * PL/pgSQL statement holding it, and the dynamic SQL of EXECUTE.
 */
type Found = { sql: { query: string; lineno: number }[]; dynamic: { query: string; lineno: number }[] };
function collectPlpgsql(node: any, found: Found, lineno = 1): void {
  if (Array.isArray(node)) {
    for (const n of node) collectPlpgsql(n, found, lineno);
    return;
  }
  if (!node || typeof node !== "object") return;
  if (typeof node.lineno === "number" && node.lineno > 0) lineno = node.lineno;
  for (const [k, v] of Object.entries(node)) {
    if (k === "PLpgSQL_stmt_dynexecute") {
      found.dynamic.push({ query: (v as any).query?.PLpgSQL_expr?.query ?? "?", lineno: (v as any).lineno ?? lineno });
    } else if (k === "PLpgSQL_expr") {
      const e = v as any;
      if (e.parseMode === 0 && e.query) found.sql.push({ query: e.query, lineno });
    } else collectPlpgsql(v, found, lineno);
  }
}

async function openDoBlock(stmt: Statement): Promise<Statement[]> {
  const { body, language } = doBody(stmt.node);
  if (language !== "plpgsql") {
    stmt.doParseError = `language ${language} is not checked`;
    return [];
  }
  let tag = "floe";
  while (body.includes(`$${tag}$`)) tag += "_";
  const wrapped = `CREATE FUNCTION floe_do_block() RETURNS void LANGUAGE plpgsql AS $${tag}$${body}$${tag}$;`;
  const found: Found = { sql: [], dynamic: [] };
  try {
    collectPlpgsql(pgq.parsePlPgSQLSync(wrapped), found);
  } catch (e) {
    stmt.doParseError = (e as Error).message;
    return [];
  }
  const inner: Statement[] = [];
  // EXECUTE cannot be checked statically: it becomes a pseudo-statement at its own line.
  for (const { query, lineno } of found.dynamic) {
    inner.push({ kind: "DynamicSql", node: { query }, text: `EXECUTE ${query}`, line: stmt.line + lineno - 1, column: stmt.column, allow: stmt.allow, inDoBlock: true });
  }
  // The DO body starts on the statement's line (after `DO $$`); PL/pgSQL line numbers count from it.
  for (const { query, lineno } of found.sql) {
    let parsed: any;
    try {
      parsed = pgq.parseSync(query);
    } catch {
      continue; // PL/pgSQL statements that are not SQL on their own (e.g. with INTO variables)
    }
    for (const s of parsed.stmts ?? []) {
      const { kind, node } = unwrap(s.stmt);
      inner.push({ kind, node, text: query.trim(), line: stmt.line + lineno - 1, column: stmt.column, allow: stmt.allow, inDoBlock: true });
    }
  }
  return inner;
}
