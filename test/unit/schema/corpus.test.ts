/**
 * The migration corpus (test/fixtures/migrations): every file's findings must match its inline
 * `-- expect:` markers exactly (rule and line), and its verdict line must match the exit code.
 * Each rule must fire somewhere in the corpus, and turning it off must change the result there.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { defaultPolicy, FileResult, lintText, summarise } from "../../../runtime/schema/lint";
import { RULES } from "../../../runtime/schema/rules";

const DIR = join(__dirname, "../../fixtures/migrations");
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith(".sql"))
  .sort();
const VERDICT: Record<string, number> = { allowed: 0, refused: 1, unparsable: 2 };

/** Every rule the gate promises (issue 5); a rule dropped from the registry fails here. */
const PROMISED_RULES = [
  "ban-drop-database",
  "drop-schema",
  "drop-table",
  "drop-column",
  "renaming-table",
  "renaming-column",
  "ban-drop-not-null",
  "adding-required-field",
  "setting-not-null",
  "adding-unique-index",
  "disallowed-unique-constraint",
  "changing-column-type",
  "type-change-may-truncate",
  "require-concurrent-index-creation",
  "require-concurrent-index-deletion",
  "ban-concurrent-index-creation-in-transaction",
  "constraint-missing-not-valid",
  "adding-field-with-volatile-default",
  "require-lock-timeout",
  "prefer-bigint-over-int",
  "ban-char-field",
  "prefer-text-field",
  "prefer-timestamptz",
  "ban-create-domain-with-constraint",
  "ban-alter-domain-with-add-constraint",
  "transaction-nesting",
  "dynamic-sql",
  "ban-uncommitted-transaction",
  "prefer-identity",
  "cdc-primary-key-change",
  "cdc-replica-identity",
  "cdc-publication-change",
  "cdc-type-change",
  "cdc-replication-slot",
  "cdc-truncate",
  "cdc-unlogged-table",
];

function expectations(text: string): { verdict: string; expected: string[] } {
  const lines = text.split("\n");
  const verdict = /^-- verdict: (\w+)/.exec(lines[0] ?? "")?.[1] ?? "missing";
  const expected: string[] = [];
  lines.forEach((l, i) => {
    const m = /-- expect: (.*)$/.exec(l);
    if (m) for (const r of m[1].split(",").map((x) => x.trim())) expected.push(`${r}@${i + 1}`);
  });
  return { verdict, expected: expected.sort() };
}

const actual = (r: FileResult) => [...r.findings.map((f) => `${f.rule}@${f.line}`), ...(r.parseError ? [`parse-error@${r.parseError.line}`] : [])].sort();

const results = new Map<string, FileResult>();
beforeAll(async () => {
  for (const f of FILES) results.set(f, await lintText(readFileSync(join(DIR, f), "utf8"), f));
});

describe("migration corpus", () => {
  it("has at least 60 migrations, safe and unsafe and unparsable", () => {
    expect(FILES.length).toBeGreaterThanOrEqual(60);
    const verdicts = FILES.map((f) => expectations(readFileSync(join(DIR, f), "utf8")).verdict);
    expect(new Set(verdicts)).toEqual(new Set(["allowed", "refused", "unparsable"]));
  });

  it.each(FILES)("%s matches its expected findings and verdict", (f) => {
    const { verdict, expected } = expectations(readFileSync(join(DIR, f), "utf8"));
    const r = results.get(f)!;
    expect(actual(r)).toEqual(expected);
    expect(summarise([r]).exitCode).toBe(VERDICT[verdict]);
  });
});

describe("rule registry", () => {
  it("contains exactly the promised rules", () => {
    expect(RULES.map((r) => r.id).sort()).toEqual([...PROMISED_RULES].sort());
  });

  it.each(PROMISED_RULES)("%s fires in the corpus and turning it off changes the result", async (id) => {
    const firing = FILES.filter((f) => results.get(f)!.findings.some((x) => x.rule === id));
    expect(firing.length).toBeGreaterThan(0);
    for (const f of firing) {
      const text = readFileSync(join(DIR, f), "utf8");
      const withoutRule = await lintText(
        text,
        f,
        defaultPolicy(),
        RULES.filter((r) => r.id !== id),
      );
      const before = actual(results.get(f)!);
      const after = actual(withoutRule);
      expect(after).not.toEqual(before);
      expect(after).toEqual(before.filter((x) => !x.startsWith(`${id}@`)));
      const off = await lintText(text, f, { ...defaultPolicy(), [id]: "off" });
      expect(actual(off)).toEqual(after);
    }
  });
});
