/**
 * `floe schema lint|check|rules`: the schema policy gate.
 * Exit codes: 0 allowed, 1 refused (violations or failed validation), 2 bad usage or unparsable SQL.
 */
import { formatGithub, formatJson, formatText, lintFiles, loadPolicy, MigrationInputError, Policy, defaultPolicy } from "./lint";
import { onSignals } from "./interrupt";
import { RULES } from "./rules";
import { BranchStrategy, STRATEGIES } from "./branch-common";

export const usage = `usage:
  floe schema lint  [--policy FILE] [--json | --format text|json|github] FILES|DIRS...
  floe schema check --against POSTGRES_URL [--policy FILE] [--json] [--keep-branch]
                    [--strategy instance|file_copy|wal_log] [--terminate-connections] FILES|DIRS...
  floe schema rules [--json]

lint   parses each migration with the Postgres parser and checks it against the policy.
check  lints, then applies the migrations to a branch of the database at POSTGRES_URL and validates
       them (no rows lost, no values nulled or changed, constraints valid, publication intact,
       changes still decode through pgoutput); the branch is always deleted afterwards.
       The branch is a new server from a physical copy of the running one (--strategy instance, the
       default: the parent's sessions are never touched; needs a superuser URL and the server on
       this machine), or a CREATE DATABASE ... TEMPLATE copy (file_copy, wal_log: waits for the
       parent to be free of other sessions, or --terminate-connections, which implies file_copy).
rules  lists the rules with their default severity.

Policy file (JSON): {"rules": {"drop-column": "error", "prefer-text-field": "off", ...}}.
Per-statement opt-out, in a comment before the statement or on its line:
  -- floe:allow drop-column the column has been unused since v42
A directory is linted with its subfolders (files in path order); a path that does not exist, or a
directory without any .sql file, is an error (exit 2), never a pass.
Exit codes: 0 allowed, 1 refused, 2 bad usage, a path with nothing to lint, or unparsable SQL.`;

export interface ParsedArgs {
  command: string;
  files: string[];
  policy?: string;
  format: "text" | "json" | "github";
  against?: string;
  keepBranch: boolean;
  terminateConnections: boolean;
  strategy?: BranchStrategy;
}

export function parseArgs(argv: string[]): ParsedArgs {
  const [command, ...rest] = argv;
  const out: ParsedArgs = { command: command ?? "", files: [], format: "text", keepBranch: false, terminateConnections: false };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    const value = () => {
      const v = rest[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--json") out.format = "json";
    else if (a === "--format") {
      const f = value();
      if (!["text", "json", "github"].includes(f)) throw new Error(`--format must be text, json or github (got "${f}")`);
      out.format = f as ParsedArgs["format"];
    } else if (a.startsWith("--format=")) {
      const f = a.slice(9);
      if (!["text", "json", "github"].includes(f)) throw new Error(`--format must be text, json or github (got "${f}")`);
      out.format = f as ParsedArgs["format"];
    } else if (a === "--policy") out.policy = value();
    else if (a === "--against") out.against = value();
    else if (a === "--keep-branch") out.keepBranch = true;
    else if (a === "--terminate-connections") out.terminateConnections = true;
    else if (a === "--strategy") {
      const v = value();
      if (!STRATEGIES.includes(v as BranchStrategy)) throw new Error(`--strategy must be ${STRATEGIES.join(", ")} (got "${v}")`);
      out.strategy = v as BranchStrategy;
    } else if (a.startsWith("--")) throw new Error(`unknown option ${a}`);
    else out.files.push(a);
  }
  return out;
}

export async function main(argv: string[]): Promise<number> {
  let args: ParsedArgs;
  let policy: Policy;
  try {
    args = parseArgs(argv);
    policy = args.policy ? loadPolicy(args.policy) : defaultPolicy();
  } catch (e) {
    process.stderr.write(`floe schema: ${(e as Error).message}\n\n${usage}\n`);
    return 2;
  }
  if (args.command === "rules") {
    if (args.format === "json")
      process.stdout.write(
        JSON.stringify(
          RULES.map(({ id, family, defaultSeverity, summary, hint }) => ({ id, family, defaultSeverity, summary, hint })),
          null,
          2,
        ) + "\n",
      );
    else for (const r of RULES) process.stdout.write(`${r.id.padEnd(46)} ${r.defaultSeverity.padEnd(5)} ${r.family.padEnd(21)} ${r.summary}\n`);
    return 0;
  }
  if (args.command !== "lint" && args.command !== "check") {
    process.stderr.write(`floe schema: unknown subcommand "${args.command}"\n\n${usage}\n`);
    return 2;
  }
  if (args.files.length === 0) {
    process.stderr.write(`floe schema ${args.command}: no migration files given\n\n${usage}\n`);
    return 2;
  }
  if (args.command === "lint") {
    let report;
    try {
      report = await lintFiles(args.files, policy);
    } catch (e) {
      if (!(e instanceof MigrationInputError)) throw e;
      process.stderr.write(
        `floe schema lint: nothing to lint at ${e.problems.length === 1 ? "this path" : "these paths"}:\n${e.problems.map((p) => `  ${p}`).join("\n")}\n`,
      );
      return 2;
    }
    const out = args.format === "json" ? formatJson(report) : args.format === "github" ? formatGithub(report) : formatText(report);
    process.stdout.write(out + "\n");
    return report.exitCode;
  }
  if (!args.against) {
    process.stderr.write(`floe schema check: --against POSTGRES_URL is required\n\n${usage}\n`);
    return 2;
  }
  const { checkMigrations, formatCheckText } = await import("./check");
  const { BranchInterrupted } = await import("./branch");
  let result;
  const stop = onSignals("floe schema check");
  try {
    result = await checkMigrations({
      url: args.against,
      files: args.files,
      policy,
      keepBranch: args.keepBranch,
      strategy: args.strategy,
      terminateConnections: args.terminateConnections,
      signal: stop.signal,
    });
  } catch (e) {
    if (e instanceof BranchInterrupted) {
      process.stderr.write(`floe schema check: ${e.message}; ${args.keepBranch ? "the branch was kept" : "the branch was deleted"}, the parent re-opened\n`);
      return stop.exitCode();
    }
    // Could not branch or reach the database: the gate cannot decide, which is not an "allowed".
    process.stderr.write(`floe schema check: ${(e as Error).message}\n`);
    return 2;
  } finally {
    stop.dispose();
  }
  process.stdout.write((args.format === "json" ? JSON.stringify(result, null, 2) : formatCheckText(result)) + "\n");
  return result.exitCode;
}
