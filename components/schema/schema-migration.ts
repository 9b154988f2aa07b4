/**
 * SchemaMigration: the Pulumi-side guard of the schema gate. It lints migration files with floe's
 * policy (the same linter as `floe schema lint`) during `pulumi preview` and `pulumi up`, and fails
 * the deployment with the findings when the policy refuses them, before anything downstream that
 * depends on it (an apply Job, an app rollout) is touched. Dependents wire `checksum` or use
 * `dependsOn` on this resource.
 */
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Validator } from "../errors";
import { defaultPolicy, expandPaths, formatText, lintText, loadPolicy, parsePolicy, Policy, summarise } from "../../runtime/schema/lint";

export interface SchemaMigrationArgs {
  /** Migration files or directories of *.sql files, applied in the order given (directories sorted). Required, at least one. */
  files: string[];
  /** Rule severities ({"drop-column": "warn", ...}) over the defaults. Defaults to floe's default policy. */
  policy?: Record<string, string>;
  /** A JSON policy file ({"rules": {...}}), used when `policy` is unset. Defaults to none. */
  policyFile?: string;
  /** Fail on warnings too. Defaults to false (only "error" findings refuse the migration). */
  failOnWarnings?: boolean;
}

export interface SchemaMigrationReport {
  files: number;
  statements: number;
  errors: number;
  warnings: number;
  /** Findings silenced by `floe:allow` comments, as "file:line rule: reason". */
  allowed: string[];
}

export class SchemaMigration extends pulumi.ComponentResource {
  /** sha256 over the files' contents, in order: changes whenever a migration changes. */
  readonly checksum: pulumi.Output<string>;
  /** Lint summary; the resource fails instead when the policy refuses the migration. */
  readonly report: pulumi.Output<SchemaMigrationReport>;

  constructor(name: string, args: SchemaMigrationArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:SchemaMigration", name, {}, opts);
    const v = new Validator("SchemaMigration", name);
    if (!Array.isArray(args.files) || args.files.length === 0)
      v.fail("files", args.files, "is empty", "list the migration files (or a directory of *.sql files) to check");
    let policy: Policy = defaultPolicy();
    try {
      policy = args.policy ? parsePolicy(args.policy, "policy") : args.policyFile ? loadPolicy(args.policyFile) : defaultPolicy();
    } catch (e) {
      v.fail(
        args.policy ? "policy" : "policyFile",
        args.policy ?? args.policyFile,
        `is not a valid policy (${(e as Error).message})`,
        'use {"rule-id": "error" | "warn" | "off"} with rule ids from `floe schema rules`',
      );
    }
    const paths = expandPaths(args.files);
    if (paths.length === 0) v.fail("files", args.files, "contains no *.sql file", "point files at migration files or a directory holding them");
    const texts = paths.map((p) => {
      try {
        return readFileSync(p, "utf8");
      } catch (e) {
        return v.fail(
          "files",
          p,
          `cannot be read (${(e as Error).message})`,
          "check the path (relative paths resolve from the Pulumi program's working directory)",
        );
      }
    });
    const hash = createHash("sha256");
    texts.forEach((t, i) => hash.update(paths[i]).update("\0").update(t).update("\0"));
    this.checksum = pulumi.output(hash.digest("hex"));
    // A refusal rejects `report`; Pulumi awaits registered outputs, so preview/up fails with the message.
    this.report = pulumi.output(lintMigration(name, paths, texts, policy, args.failOnWarnings ?? false));
    this.registerOutputs({ checksum: this.checksum, report: this.report });
  }
}

/**
 * The check SchemaMigration runs: lints the texts and resolves to the summary, or rejects with the
 * findings when the policy refuses them (errors; warnings too with failOnWarnings).
 */
export async function lintMigration(name: string, paths: string[], texts: string[], policy: Policy, failOnWarnings: boolean): Promise<SchemaMigrationReport> {
  const results = [];
  for (let i = 0; i < paths.length; i++) results.push(await lintText(texts[i], paths[i], policy));
  const report = summarise(results);
  if (report.exitCode !== 0 || (failOnWarnings && report.warnings > 0)) {
    throw new Error(
      `SchemaMigration "${name}": the schema policy refuses this migration:\n${formatText(report)}\n` +
        `Fix the migration, or add "-- floe:allow <rule> <reason>" before the statement, or relax the rule in the policy.`,
    );
  }
  return {
    files: results.length,
    statements: results.reduce((n, r) => n + r.statements, 0),
    errors: report.errors,
    warnings: report.warnings,
    allowed: results.flatMap((r) => r.suppressed.map((s) => `${r.file}:${s.line} ${s.rule}: ${s.reason}`)),
  };
}
