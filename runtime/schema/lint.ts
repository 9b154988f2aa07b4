/**
 * The schema policy gate's linter: parse, run every rule the policy enables, honour per-statement
 * opt-outs, and render the result as text, JSON or GitHub annotations.
 */
import { readFileSync, readdirSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { MigrationParseError, parseMigration, Statement } from "./parse";
import { advanceContext, FileContext, RULES, Rule, RULE_IDS, Severity } from "./rules";

export type Policy = Record<string, Severity>;

export interface Finding {
  rule: string;
  severity: Exclude<Severity, "off">;
  line: number;
  column: number;
  message: string;
  hint: string;
  /** First line of the statement, for context. */
  statement: string;
}

export interface Suppressed {
  rule: string;
  line: number;
  reason: string;
}

export interface FileResult {
  file: string;
  statements: number;
  findings: Finding[];
  /** Findings silenced by a `floe:allow` comment, kept for the audit trail. */
  suppressed: Suppressed[];
  parseError?: { line: number; column: number; message: string };
}

export interface LintReport {
  files: FileResult[];
  errors: number;
  warnings: number;
  /** 0 clean (warnings allowed), 1 violations, 2 a file could not be read or parsed. */
  exitCode: 0 | 1 | 2;
}

export function defaultPolicy(): Policy {
  return Object.fromEntries(RULES.map((r) => [r.id, r.defaultSeverity]));
}

const severity = z.enum(["error", "warn", "off"]);
const rulesSchema = z.record(severity);

/** Merges a policy document ({"rules": {id: level}} or {id: level}) over the defaults; unknown ids are an error. */
export function parsePolicy(doc: unknown, source = "policy"): Policy {
  const nested = !!doc && typeof doc === "object" && "rules" in doc;
  const parsed = rulesSchema.safeParse(nested ? (doc as { rules?: unknown }).rules : doc);
  if (!parsed.success) {
    const where = (p: (string | number)[]) => [...(nested ? ["rules"] : []), ...p].join(".") || "(root)";
    throw new Error(
      `${source}: expected {"rules": {"rule-id": "error" | "warn" | "off"}}: ${parsed.error.issues.map((i) => `${where(i.path)}: ${i.message}`).join("; ")}`,
    );
  }
  const rules = parsed.data as Record<string, Severity>;
  const unknown = Object.keys(rules).filter((k) => !RULE_IDS.includes(k));
  if (unknown.length) throw new Error(`${source}: unknown rule(s) ${unknown.map((u) => `"${u}"`).join(", ")}; known rules: ${RULE_IDS.join(", ")}`);
  return { ...defaultPolicy(), ...rules };
}

export function loadPolicy(path: string): Policy {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`cannot read policy ${path}: ${(e as Error).message}`);
  }
  return parsePolicy(doc, path);
}

/** Lints one migration's text. `rules` defaults to the full registry (tests pass subsets). */
export async function lintText(text: string, file: string, policy: Policy = defaultPolicy(), rules: Rule[] = RULES): Promise<FileResult> {
  let statements;
  try {
    statements = await parseMigration(text, file);
  } catch (e) {
    if (e instanceof MigrationParseError)
      return { file, statements: 0, findings: [], suppressed: [], parseError: { line: e.line, column: e.column, message: e.detail } };
    throw e;
  }
  const ctx: FileContext = { createdTables: new Set(), inTransaction: false, lockTimeoutSet: false, lockTimeoutReported: false };
  const findings: Finding[] = [];
  const suppressed: Suppressed[] = [];
  const emit = (rule: Rule, level: Exclude<Severity, "off">, s: Statement, message: string) => {
    const reason = s.allow.get(rule.id);
    if (reason !== undefined) suppressed.push({ rule: rule.id, line: s.line, reason });
    else
      findings.push({
        rule: rule.id,
        severity: level,
        line: s.line,
        column: s.column,
        message: s.via ? `${message} (${s.via})` : message,
        hint: rule.hint,
        statement: s.text.split("\n")[0].slice(0, 120),
      });
  };
  const enabled = rules
    .map((rule) => ({ rule, level: policy[rule.id] ?? rule.defaultSeverity }))
    .filter((x): x is { rule: Rule; level: Exclude<Severity, "off"> } => x.level !== "off");
  for (const s of statements) {
    for (const { rule, level } of enabled) for (const message of rule.check(s, ctx)) emit(rule, level, s, message);
    advanceContext(s, ctx);
  }
  for (const { rule, level } of enabled) for (const { at, message } of rule.atEnd?.(ctx) ?? []) emit(rule, level, at, message);
  findings.sort((a, b) => a.line - b.line || a.column - b.column);
  return { file, statements: statements.filter((s) => !s.nested).length, findings, suppressed };
}

/** The *.sql files under a directory, depth first, entries in byte order of their names (subfolders in place by name). */
function sqlFilesUnder(dir: string, seen = new Set<string>()): string[] {
  const real = realpathSync(dir);
  if (seen.has(real)) return []; // a symlink back up the tree
  seen.add(real);
  const out: string[] = [];
  for (const name of readdirSync(dir).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    const p = join(dir, name);
    let st;
    try {
      st = statSync(p);
    } catch {
      continue; // a dangling symlink
    }
    if (st.isDirectory()) out.push(...sqlFilesUnder(p, seen));
    else if (name.endsWith(".sql")) out.push(p);
  }
  return out;
}

/** Expands directories to their *.sql files, subfolders included (stable order); other paths are kept as given. */
export function expandPaths(paths: string[]): string[] {
  return paths.flatMap((p) => {
    try {
      return statSync(p).isDirectory() ? sqlFilesUnder(p) : [p];
    } catch {
      return [p]; // reported as unreadable by whoever reads it
    }
  });
}

/** A lint path that cannot be linted: it does not exist, or it is a directory holding no *.sql file. */
export class MigrationInputError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("; "));
    this.name = "MigrationInputError";
  }
}

/**
 * The migration files the given paths name, in order: each directory's *.sql files (recursively),
 * each file as given. Throws MigrationInputError naming every path that does not exist or is a
 * directory without any *.sql file: linting nothing is not a pass.
 */
export function migrationFiles(paths: string[]): string[] {
  const problems: string[] = [];
  const files: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      problems.push(
        (e as NodeJS.ErrnoException).code === "ENOENT" ? `${p}: not found (no such file or directory)` : `${p}: cannot be read (${(e as Error).message})`,
      );
      continue;
    }
    if (!st.isDirectory()) {
      files.push(p);
      continue;
    }
    const under = sqlFilesUnder(p);
    if (under.length) files.push(...under);
    else problems.push(`${p}: no .sql file in this directory or its subfolders`);
  }
  if (problems.length) throw new MigrationInputError(problems);
  return files;
}

/** Lints the migrations the paths name (see migrationFiles: throws MigrationInputError for a path with nothing to lint). */
export async function lintFiles(paths: string[], policy: Policy = defaultPolicy()): Promise<LintReport> {
  const files: FileResult[] = [];
  for (const file of migrationFiles(paths)) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      files.push({ file, statements: 0, findings: [], suppressed: [], parseError: { line: 1, column: 1, message: `cannot read: ${(e as Error).message}` } });
      continue;
    }
    files.push(await lintText(text, file, policy));
  }
  return summarise(files);
}

export function summarise(files: FileResult[]): LintReport {
  const all = files.flatMap((f) => f.findings);
  const errors = all.filter((f) => f.severity === "error").length;
  const warnings = all.length - errors;
  const exitCode = files.some((f) => f.parseError) ? 2 : errors > 0 ? 1 : 0;
  return { files, errors, warnings, exitCode };
}

// ---- output ------------------------------------------------------------------------------------

export function formatText(report: LintReport): string {
  const lines: string[] = [];
  for (const f of report.files) {
    if (f.parseError) lines.push(`${f.file}:${f.parseError.line}:${f.parseError.column}: error [parse] ${f.parseError.message}`);
    for (const x of f.findings) {
      lines.push(`${f.file}:${x.line}:${x.column}: ${x.severity === "error" ? "error" : "warning"} [${x.rule}] ${x.message}`);
      lines.push(`    ${x.statement}`);
      lines.push(`    fix: ${x.hint}`);
    }
    for (const s of f.suppressed) lines.push(`${f.file}:${s.line}: allowed [${s.rule}] ${s.reason}`);
  }
  const parseErrors = report.files.filter((f) => f.parseError).length;
  lines.push(
    `${report.files.length} file(s): ${report.errors} error(s), ${report.warnings} warning(s)` +
      (parseErrors ? `, ${parseErrors} file(s) could not be parsed` : "") +
      ` -> ${report.exitCode === 0 ? "allowed" : "refused"}`,
  );
  return lines.join("\n");
}

const escData = (s: string) => s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
const escProp = (s: string) => escData(s).replace(/:/g, "%3A").replace(/,/g, "%2C");

/** GitHub Actions workflow commands: one ::error / ::warning annotation per finding. */
export function formatGithub(report: LintReport): string {
  const lines: string[] = [];
  for (const f of report.files) {
    if (f.parseError)
      lines.push(
        `::error file=${escProp(f.file)},line=${f.parseError.line},col=${f.parseError.column},title=${escProp("floe schema: parse error")}::${escData(f.parseError.message)}`,
      );
    for (const x of f.findings) {
      lines.push(
        `::${x.severity === "error" ? "error" : "warning"} file=${escProp(f.file)},line=${x.line},col=${x.column},title=${escProp(`floe schema: ${x.rule}`)}::${escData(`${x.message}\nFix: ${x.hint}`)}`,
      );
    }
  }
  lines.push(`${report.errors} error(s), ${report.warnings} warning(s)`);
  return lines.join("\n");
}

export function formatJson(report: LintReport): string {
  return JSON.stringify(report, null, 2);
}
