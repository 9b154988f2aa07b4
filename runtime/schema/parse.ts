/**
 * Migration parsing with the real Postgres parser (libpg-query, the Postgres 18 grammar compiled to
 * wasm). Turns a SQL file into the statements it runs, in order, with their 1-based line/column,
 * source text and the per-statement opt-outs (`-- floe:allow rule-id[,rule-id] reason`).
 *
 * What runs indirectly is opened too, so rules see it like top-level SQL (a `nested` statement):
 *   - the PL/pgSQL body of a DO block (libpg-query's `parsePlPgSQL`): every SQL statement and
 *     expression in it;
 *   - the body of a function or procedure the migration creates, once the migration calls it
 *     (CALL, any expression, another opened body, or a trigger / event trigger it attaches it to):
 *     PL/pgSQL and SQL bodies, reported at their own lines and naming the call;
 *   - the string an EXECUTE runs, when it is a constant (literals, `||`, format/quote_* of
 *     constants): parsed and opened like any other statement.
 * What cannot be checked without running it — an EXECUTE of a string built at run time, a body in
 * another language, a body that does not parse — becomes an "Unverifiable" statement, which the
 * `dynamic-sql` rule reports.
 */
import * as pgq from "libpg-query";
import { constantValue, embeddedSql } from "./plpgsql";

let loaded: Promise<void> | undefined;
/** The wasm module loads once per process; every parse entry point awaits this first. */
export function loadParser(): Promise<void> {
  loaded ??= pgq.loadModule();
  return loaded;
}

/** The kind of the pseudo-statement standing for SQL the gate cannot check. */
export const UNVERIFIABLE = "Unverifiable";

export interface Statement {
  /** The node type, e.g. "AlterTableStmt"; "Unverifiable" for SQL that cannot be checked ({what, detail}). */
  kind: string;
  /** The node body (libpg-query JSON AST). */
  node: any;
  /** Source text of the statement (without the terminating semicolon). */
  text: string;
  line: number;
  column: number;
  /** rule id -> reason, from `floe:allow` comments attached to this statement (or to what holds it). */
  allow: Map<string, string>;
  /** Not a statement of the file itself: found in a DO block, a called function's body or an EXECUTE string. */
  nested?: boolean;
  /** Where a statement of a called function's body runs from, for messages: "in function purge(), called at line 12". */
  via?: string;
  /** How positions inside `node` (byte offsets into the text that was parsed) map to the file. */
  origin?: Origin;
}

/**
 * Positions of a parsed text in the file: the text starts at char offset `base` of the file and
 * its byte offsets convert with `toChar`; or the text is not in the file verbatim (an EXECUTE
 * string, a PL/pgSQL query) and everything in it is reported at one place.
 */
type Origin = { base: number; toChar: (b: number) => number } | { pinned: { line: number; column: number } };

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
  if (/^[\x00-\x7f]*$/.test(text)) return (b) => b; // eslint-disable-line no-control-regex -- ASCII only
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

const merge = (...maps: Map<string, string>[]) => new Map(maps.flatMap((m) => [...m]));
/** Statements whose body holds other statements: their own opt-outs are the ones outside the body. */
const HAS_BODY = new Set(["DoStmt", "CreateFunctionStmt"]);

/** Parses one migration file. Throws MigrationParseError with the failing line. */
export async function parseMigration(text: string, file = "<input>"): Promise<Statement[]> {
  await loadParser();
  let result: any;
  try {
    result = pgq.parseSync(text);
  } catch (e) {
    const details = (e as { sqlDetails?: { cursorPosition?: number } }).sqlDetails;
    // The parser's cursor is a 0-based count of characters (code points), unlike statement locations (bytes).
    const cp = Math.max(0, details?.cursorPosition ?? 0);
    const pos = Array.from(text).slice(0, cp).join("").length;
    const { line, column } = lineCol(text, pos);
    throw new MigrationParseError(file, line, column, (e as Error).message);
  }
  const toChar = byteToChar(text);
  const raw: any[] = result.stmts ?? [];
  const top: Statement[] = [];
  let prevEnd = 0;
  for (let idx = 0; idx < raw.length; idx++) {
    const s = raw[idx];
    const startRaw = toChar(s.stmt_location ?? 0);
    const endRaw = s.stmt_len != null ? toChar((s.stmt_location ?? 0) + s.stmt_len) : text.length;
    const start = skipTrivia(text, startRaw);
    let end = endRaw;
    if (text[end] === ";") end++;
    const { kind, node } = unwrap(s.stmt);
    // A statement owns the comments from the line after the previous statement up to its own end,
    // plus a trailing comment on the line where it ends. For a DO block or a function, only the
    // lines before its body and its last line: an opt-out inside the body covers its own line only.
    const ownedStart =
      idx === 0
        ? 0
        : (() => {
            const nl = text.indexOf("\n", prevEnd);
            return nl < 0 ? prevEnd : nl + 1;
          })();
    const eol = (i: number) => {
      const nl = text.indexOf("\n", i);
      return nl < 0 ? text.length : nl;
    };
    const from = Math.min(ownedStart, start);
    const owned = HAS_BODY.has(kind)
      ? text.slice(from, eol(start)) + "\n" + text.slice(text.lastIndexOf("\n", end - 1) + 1, eol(end))
      : text.slice(from, eol(end));
    prevEnd = end;
    const { line, column } = lineCol(text, start);
    top.push({ kind, node, text: text.slice(start, endRaw).trim(), line, column, allow: parseAllows(owned), origin: { base: 0, toChar } });
  }
  const opener = new Opener(text);
  const out: Statement[] = [];
  for (const s of top) {
    out.push(s);
    opener.follow(s, out, 0);
  }
  return out;
}

// ---- what runs indirectly ----------------------------------------------------------------------

interface FunctionDef {
  stmt: Statement;
  /** As written, e.g. "app.purge". */
  display: string;
  language: string;
  kind: "function" | "procedure";
}

const lastName = (names: any[] | undefined) => String((names ?? []).map((n: any) => n.String?.sval ?? "").pop() ?? "").toLowerCase();
const MAX_DEPTH = 32;

/**
 * Opens DO blocks, called functions and constant EXECUTE strings of one file, in execution order.
 * Remembers the functions the file created (by name; overloads are all opened) and opens each
 * definition once, at its first call.
 */
class Opener {
  private readonly lines: string[];
  private readonly functions = new Map<string, FunctionDef[]>();
  private readonly opened = new Set<FunctionDef>();

  constructor(private readonly text: string) {
    this.lines = text.split("\n");
  }

  /** Appends to `out` what runs because `s` runs (recursively), right after it. */
  follow(s: Statement, out: Statement[], depth: number): void {
    const add = (inner: Statement[]) => {
      for (const n of inner) {
        out.push(n);
        if (depth + 1 >= MAX_DEPTH) out.push(this.unverifiable(n, "nested SQL", `more than ${MAX_DEPTH} levels of DO blocks, calls and EXECUTE strings`));
        else this.follow(n, out, depth + 1);
      }
    };
    if (s.kind === "CreateFunctionStmt") {
      this.define(s);
      return; // creating a function runs nothing; its body is opened when something calls it
    }
    if (s.kind === "DoStmt") add(this.openDo(s));
    for (const { name, how } of this.calls(s)) {
      for (const def of this.functions.get(name) ?? []) {
        if (this.opened.has(def)) continue;
        this.opened.add(def);
        add(this.openFunction(def, s, how));
      }
    }
  }

  private define(s: Statement): void {
    const names = (s.node.funcname ?? []).map((n: any) => n.String?.sval ?? "");
    const language = String(
      (s.node.options ?? []).map((o: any) => o.DefElem).find((d: any) => d?.defname === "language")?.arg?.String?.sval ?? (s.node.sql_body ? "sql" : "?"),
    ).toLowerCase();
    const def: FunctionDef = { stmt: s, display: names.join("."), language, kind: s.node.is_procedure ? "procedure" : "function" };
    const key = lastName(s.node.funcname);
    this.functions.set(key, [...(this.functions.get(key) ?? []), def]);
  }

  /** Functions a statement calls: any function call in it, and trigger functions it attaches. */
  private calls(s: Statement): { name: string; how: string }[] {
    if (s.kind === "CreateTrigStmt" || s.kind === "CreateEventTrigStmt")
      return [{ name: lastName(s.node.funcname), how: `attached by the ${s.kind === "CreateTrigStmt" ? "trigger" : "event trigger"} at line ${s.line}` }];
    const out: { name: string; how: string }[] = [];
    if (s.kind === "CallStmt") out.push({ name: lastName(s.node.funccall?.funcname), how: `called at line ${s.line}` });
    const walk = (n: any) => {
      if (!n || typeof n !== "object") return;
      if (Array.isArray(n)) return n.forEach(walk);
      if (n.FuncCall) out.push({ name: lastName(n.FuncCall.funcname), how: `called at line ${s.line}` });
      for (const v of Object.values(n)) walk(v);
    };
    walk(s.node);
    return out;
  }

  /**
   * Where a statement's body literal (the `AS` / DO string) starts: its 1-based line, and its char
   * offset when known. `pinned`: the statement is not in the file verbatim, nor is its body.
   */
  private bodyStart(s: Statement, defs: any[]): { line: number; pinned?: boolean; content?: number; verbatim?: (body: string) => boolean } {
    const as = defs.find((d: any) => d?.defname === "as");
    const origin = s.origin;
    if (!origin || "pinned" in origin) return { line: s.line, pinned: true };
    if (typeof as?.location !== "number" || as.location < 0) return { line: s.line };
    let i = origin.base + origin.toChar(as.location);
    if (/^as\b/i.test(this.text.slice(i, i + 3))) i = skipTrivia(this.text, i + 2);
    const open = /^(?:[eE]?')|^\$[A-Za-z_\x80-\uffff]?[A-Za-z0-9_\x80-\uffff]*\$/.exec(this.text.slice(i, i + 200))?.[0];
    if (!open) return { line: lineCol(this.text, i).line };
    const content = i + open.length;
    return { line: lineCol(this.text, i).line, content, verbatim: (body) => this.text.startsWith(body, content) };
  }

  private openDo(s: Statement): Statement[] {
    const args = (s.node.args ?? []).map((a: any) => a.DefElem).filter(Boolean);
    const body = String(args.find((d: any) => d.defname === "as")?.arg?.String?.sval ?? "");
    const language = String(args.find((d: any) => d.defname === "language")?.arg?.String?.sval ?? "plpgsql").toLowerCase();
    if (language !== "plpgsql") return [this.unverifiable(s, "DO block", `language ${language} is not checked`)];
    let tag = "floe";
    while (body.includes(`$${tag}$`)) tag += "_";
    let tree: any;
    try {
      tree = pgq.parsePlPgSQLSync(`CREATE FUNCTION floe_do_block() RETURNS void LANGUAGE plpgsql AS $${tag}$${body}$${tag}$;`);
    } catch (e) {
      return [this.unverifiable(s, "DO block", `its PL/pgSQL body does not parse: ${(e as Error).message}`)];
    }
    return this.plpgsqlStatements(tree.plpgsql_funcs?.[0]?.PLpgSQL_function, this.bodyStart(s, args), s.allow, s.via);
  }

  private openFunction(def: FunctionDef, caller: Statement, how: string): Statement[] {
    const s = def.stmt;
    const what = `${def.kind} ${def.display}()`;
    const via = `in ${what}, ${how}${caller.via ? `, ${caller.via}` : ""}`;
    const allow = merge(s.allow, caller.allow);
    const at = { ...caller, allow, via: caller.via };
    const opts = (s.node.options ?? []).map((o: any) => o.DefElem).filter(Boolean);
    const items = (opts.find((d: any) => d.defname === "as")?.arg?.List?.items ?? []).map((i: any) => String(i.String?.sval ?? ""));
    if (def.language === "plpgsql") {
      let tree: any;
      try {
        tree = pgq.parsePlPgSQLSync(s.text);
      } catch (e) {
        return [this.unverifiable(at, what, `its PL/pgSQL body does not parse: ${(e as Error).message}`)];
      }
      return this.plpgsqlStatements(tree.plpgsql_funcs?.[0]?.PLpgSQL_function, this.bodyStart(s, opts), allow, via);
    }
    if (def.language === "sql") {
      if (s.node.sql_body) {
        // BEGIN ATOMIC … END: already parsed with the statement; reported at the definition.
        const stmts = (s.node.sql_body.List?.items ?? []).flatMap((l: any) => l.List?.items ?? []);
        return stmts.map((raw: any) => {
          const { kind, node } = unwrap(raw);
          return { kind, node, text: s.text, line: s.line, column: s.column, allow, nested: true, via, origin: { pinned: { line: s.line, column: s.column } } };
        });
      }
      const body = items[0] ?? "";
      const start = this.bodyStart(s, opts);
      const origin: Origin =
        start.content !== undefined && start.verbatim?.(body)
          ? { base: start.content, toChar: byteToChar(body) }
          : { pinned: { line: start.line, column: start.pinned ? s.column : this.firstColumn(start.line) } };
      return this.parseNested(body, origin, allow, via, at, what);
    }
    return [this.unverifiable(at, what, `it is written in ${def.language}, whose body cannot be checked`)];
  }

  /** The statements and expressions of a PL/pgSQL body; `body.line` is the file line where the body starts. */
  private plpgsqlStatements(fn: any, body: { line: number; pinned?: boolean }, allow: Map<string, string>, via?: string): Statement[] {
    const out: Statement[] = [];
    for (const e of embeddedSql(fn)) {
      const line = body.pinned ? body.line : body.line + e.lineno - 1;
      const pinned = { line, column: this.firstColumn(line) };
      const own = merge(allow, this.lineAllows(line));
      const here = { ...pinned, allow: own, via, text: e.query.trim() };
      if (e.role === "statement") {
        out.push(...this.parseNested(e.query, { pinned }, own, via, here, "PL/pgSQL statement"));
        continue;
      }
      // Expressions (and the expression an EXECUTE evaluates) as `SELECT expr`: their calls count.
      let tree: any;
      try {
        tree = pgq.parseSync(`SELECT ${e.query}`);
      } catch (err) {
        out.push(
          this.unverifiable(here, e.role === "dynamic" ? "dynamic SQL" : "PL/pgSQL expression", `${e.query.trim()} does not parse: ${(err as Error).message}`),
        );
        continue;
      }
      const select = tree.stmts?.[0]?.stmt;
      out.push({
        kind: "SelectStmt",
        node: select?.SelectStmt,
        text: `SELECT ${e.query.trim()}`,
        ...pinned,
        allow: own,
        nested: true,
        via,
        origin: { pinned },
      });
      if (e.role !== "dynamic") continue;
      const targets = select?.SelectStmt?.targetList ?? [];
      const value = targets.length === 1 ? constantValue(targets[0].ResTarget?.val) : undefined;
      if (value === undefined) {
        out.push(this.unverifiable(here, "dynamic SQL", `EXECUTE ${clip(e.query.trim())} builds its statement at run time`));
        continue;
      }
      // A constant string: lint it as the statement(s) it is.
      out.push(...this.parseNested(value, { pinned }, own, via, here, "dynamic SQL"));
    }
    return out;
  }

  /** Parses SQL found inside something else; a parse failure is an Unverifiable statement at `at`. */
  private parseNested(
    sql: string,
    origin: Origin,
    allow: Map<string, string>,
    via: string | undefined,
    at: Pick<Statement, "line" | "column" | "allow" | "via">,
    what: string,
  ): Statement[] {
    let tree: any;
    try {
      tree = pgq.parseSync(sql);
    } catch (e) {
      return [this.unverifiable(at, what, `${clip(sql.trim())} does not parse: ${(e as Error).message}`)];
    }
    return (tree.stmts ?? []).map((raw: any) => {
      const { kind, node } = unwrap(raw.stmt);
      const b = raw.stmt_location ?? 0;
      const piece =
        raw.stmt_len != null
          ? Buffer.from(sql, "utf8")
              .subarray(b, b + raw.stmt_len)
              .toString("utf8")
          : Buffer.from(sql, "utf8").subarray(b).toString("utf8");
      let line: number;
      let column: number;
      let own = allow;
      if ("pinned" in origin) ({ line, column } = origin.pinned);
      else {
        const start = skipTrivia(this.text, origin.base + origin.toChar(b));
        ({ line, column } = lineCol(this.text, start));
        own = merge(allow, this.lineAllows(line));
      }
      return { kind, node, text: piece.trim(), line, column, allow: own, nested: true, via, origin };
    });
  }

  private unverifiable(at: Pick<Statement, "line" | "column" | "allow" | "via">, what: string, detail: string): Statement {
    return {
      kind: UNVERIFIABLE,
      node: { what, detail },
      text: `${what}: ${detail}`,
      line: at.line,
      column: at.column,
      allow: at.allow,
      nested: true,
      via: at.via,
    };
  }

  /** Column of the first non-blank character of a file line. */
  private firstColumn(line: number): number {
    const l = this.lines[line - 1] ?? "";
    return l.length - l.trimStart().length + 1;
  }

  /** Opt-outs on a file line and on the comment-only lines right above it. */
  private lineAllows(line: number): Map<string, string> {
    let first = line;
    while (first > 1 && /^\s*(--|\/\*)/.test(this.lines[first - 2] ?? "")) first--;
    return parseAllows(this.lines.slice(first - 1, line).join("\n"));
  }
}

const clip = (s: string) => (s.length > 80 ? s.slice(0, 77) + "..." : s).replace(/\s+/g, " ");
