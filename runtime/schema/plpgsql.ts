/**
 * Pure helpers for what runs inside PL/pgSQL bodies (DO blocks, functions and procedures): the SQL
 * a body holds, found by walking the parser's PL/pgSQL tree (libpg-query `parsePlPgSQL`), and the
 * value of an EXECUTE string when it is a constant that can be worked out without running anything.
 */

/** One SQL text embedded in a PL/pgSQL body, with the body line (1 = the line of the opening quote). */
export interface EmbeddedSql {
  /** The SQL text as PL/pgSQL holds it (INTO clauses already removed by the parser). */
  query: string;
  lineno: number;
  /**
   * "statement": a full SQL statement (plain SQL, PERFORM, FOR … IN query, RETURN QUERY, CALL);
   * "expression": an expression (IF condition, assignment, RAISE argument, DECLARE default, …);
   * "dynamic": the expression whose value is the SQL that EXECUTE (or OPEN/FOR/RETURN QUERY
   * … EXECUTE) runs.
   */
  role: "statement" | "expression" | "dynamic";
}

/** PL/pgSQL statements that run a string as SQL, and the field holding that string's expression. */
const DYNAMIC: Record<string, string> = {
  PLpgSQL_stmt_dynexecute: "query",
  PLpgSQL_stmt_dynfors: "query",
  PLpgSQL_stmt_return_query: "dynquery",
  PLpgSQL_stmt_open: "dynquery",
};
/** Variable references inside statements repeat the declarations held in `datums`: walked once, there. */
const DATUM_KEYS = new Set(["PLpgSQL_var", "PLpgSQL_rec", "PLpgSQL_row", "PLpgSQL_recfield"]);
/** parseMode 0 is RAW_PARSE_DEFAULT: a whole statement. 3-5 are the assignment forms (`x := expr`). */
const ASSIGN_MODES = new Set([3, 4, 5]);

/** Every SQL text in a parsed PL/pgSQL function (one element of `plpgsql_funcs`), in body order. */
export function embeddedSql(fn: any): EmbeddedSql[] {
  const out: EmbeddedSql[] = [];
  const expr = (e: any, lineno: number, dynamic: boolean) => {
    if (!e || typeof e.query !== "string") return;
    const mode = e.parseMode ?? 0;
    if (dynamic) out.push({ query: e.query, lineno, role: "dynamic" });
    else if (mode === 0) out.push({ query: e.query, lineno, role: "statement" });
    else out.push({ query: ASSIGN_MODES.has(mode) ? assignedValue(e.query) : e.query, lineno, role: "expression" });
  };
  const walk = (node: any, lineno: number): void => {
    if (Array.isArray(node)) return node.forEach((n) => walk(n, lineno));
    if (!node || typeof node !== "object") return;
    if (typeof node.lineno === "number" && node.lineno > 0) lineno = node.lineno;
    for (const [k, v] of Object.entries(node)) {
      if (k === "PLpgSQL_expr") expr(v, lineno, false);
      else if (DATUM_KEYS.has(k)) continue;
      else if (k in DYNAMIC && v && typeof v === "object") {
        const st = v as { lineno?: unknown };
        const ln = typeof st.lineno === "number" && st.lineno > 0 ? st.lineno : lineno;
        for (const [f, fv] of Object.entries(st)) {
          const inner = (fv as { PLpgSQL_expr?: unknown } | null)?.PLpgSQL_expr;
          if (f === DYNAMIC[k] && inner) expr(inner, ln, true);
          else walk(fv, ln);
        }
      } else walk(v, lineno);
    }
  };
  // Declarations first (their defaults run when the block is entered), then the body.
  for (const d of fn?.datums ?? []) {
    const v = d.PLpgSQL_var;
    if (v?.default_val?.PLpgSQL_expr) expr(v.default_val.PLpgSQL_expr, v.lineno ?? 1, false);
  }
  walk(fn?.action, 1);
  return out;
}

/** `x := expr`, `x.f = expr`, `x[1] := expr` -> `expr`. */
function assignedValue(q: string): string {
  const m = /^[^:=]*?(:=|=)/.exec(q);
  return (m ? q.slice(m[0].length) : q).trim();
}

/**
 * The value of a constant expression, or undefined when it depends on anything not known before the
 * migration runs. `node` is the parser's tree for the expression (the `val` of a ResTarget). Folds
 * string and number literals, casts to text types, `||`, and concat / format / quote_ident /
 * quote_literal / quote_nullable applied to constants; anything else is not constant.
 */
export function constantValue(node: any): string | undefined {
  if (!node || typeof node !== "object") return undefined;
  if (node.A_Const) {
    const c = node.A_Const;
    if (c.isnull) return undefined;
    if ("sval" in c) return c.sval?.sval ?? "";
    if ("ival" in c) return String(c.ival?.ival ?? 0);
    if ("fval" in c) return String(c.fval?.fval ?? "");
    return undefined;
  }
  if (node.TypeCast) {
    const names: string[] = (node.TypeCast.typeName?.names ?? []).map((n: any) => String(n.String?.sval ?? "").toLowerCase());
    return ["text", "varchar", "bpchar", "name"].includes(names[names.length - 1] ?? "") ? constantValue(node.TypeCast.arg) : undefined;
  }
  if (node.A_Expr) {
    const e = node.A_Expr;
    const op = (e.name ?? []).map((n: any) => n.String?.sval).join(".");
    if (e.kind !== "AEXPR_OP" || op !== "||") return undefined;
    const l = constantValue(e.lexpr);
    const r = constantValue(e.rexpr);
    return l === undefined || r === undefined ? undefined : l + r;
  }
  if (node.FuncCall) {
    const f = node.FuncCall;
    if (f.agg_star || f.agg_distinct || f.func_variadic || f.over || f.agg_filter || f.agg_order) return undefined;
    const names = (f.funcname ?? []).map((n: any) => String(n.String?.sval ?? "").toLowerCase());
    if (names.length > 2 || (names.length === 2 && names[0] !== "pg_catalog")) return undefined;
    const args: any[] = f.args ?? [];
    if (args.some((a) => a.NamedArgExpr)) return undefined;
    const vals = args.map(constantValue);
    if (vals.some((v) => v === undefined)) return undefined;
    const a = vals as string[];
    switch (names[names.length - 1]) {
      case "concat":
        return a.join("");
      case "quote_ident":
        return a.length === 1 ? quoteIdent(a[0]) : undefined;
      case "quote_literal":
      case "quote_nullable":
        return a.length === 1 ? quoteLiteral(a[0]) : undefined;
      case "format":
        return a.length >= 1 ? formatConstant(a[0], a.slice(1)) : undefined;
      default:
        return undefined;
    }
  }
  return undefined;
}

/** Always quoted: the same identifier as Postgres's quote_ident gives, for parsing purposes. */
export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** Postgres's quote_literal: doubled quotes, and E'' with doubled backslashes when there are any. */
export function quoteLiteral(s: string): string {
  const q = `'${s.replace(/'/g, "''").replace(/\\/g, "\\\\")}'`;
  return s.includes("\\") ? `E${q}` : q;
}

/** format() with %s, %I, %L, %% and positional `%n$`; undefined for flags or widths (not folded). */
export function formatConstant(fmt: string, args: string[]): string | undefined {
  let out = "";
  let next = 0;
  for (let i = 0; i < fmt.length; i++) {
    if (fmt[i] !== "%") {
      out += fmt[i];
      continue;
    }
    const m = /^%(?:(\d+)\$)?([sIL%])/.exec(fmt.slice(i));
    if (!m) return undefined;
    i += m[0].length - 1;
    if (m[2] === "%") {
      out += "%";
      continue;
    }
    const idx = m[1] ? Number(m[1]) - 1 : next;
    next = idx + 1;
    if (idx < 0 || idx >= args.length) return undefined;
    const v = args[idx];
    out += m[2] === "s" ? v : m[2] === "I" ? quoteIdent(v) : quoteLiteral(v);
  }
  return out;
}
