// The layout rules of docs/architecture.md, checked on the source: no import circle (type-only
// imports count too: they are circles for a reader), runtime/ never imports components/ or Pulumi.
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

const ROOT = path.join(__dirname, "../../..");

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(rel));
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(rel);
  }
  return out;
}

/** The project files a file imports (relative specifiers resolved to .ts files), and its bare imports. */
function importsOf(file: string): { local: string[]; packages: string[] } {
  const info = ts.preProcessFile(fs.readFileSync(path.join(ROOT, file), "utf8"), true, true);
  const local: string[] = [];
  const packages: string[] = [];
  for (const { fileName } of info.importedFiles) {
    if (!fileName.startsWith(".")) {
      packages.push(fileName);
      continue;
    }
    const base = path.normalize(path.join(path.dirname(file), fileName));
    const hit = [base + ".ts", path.join(base, "index.ts"), base.replace(/\.js$/, ".ts")].find((c) => fs.existsSync(path.join(ROOT, c)));
    if (hit) local.push(hit);
  }
  return { local, packages };
}

/** Every elementary circle found by a depth-first search, as "a > b > a". */
function circles(files: string[]): string[] {
  const graph = new Map(files.map((f) => [f, importsOf(f).local]));
  const found = new Set<string>();
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, "open");
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === "open") found.add([...stack.slice(stack.indexOf(g)), g].join(" > "));
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, "done");
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return [...found];
}

const componentFiles = sources("components");
const runtimeFiles = sources("runtime");

test("no import circle in components/ or runtime/", () => {
  expect(circles([...componentFiles, ...runtimeFiles])).toEqual([]);
});

test("runtime/ never imports components/ or Pulumi", () => {
  const offenders = runtimeFiles.flatMap((f) => {
    const { local, packages } = importsOf(f);
    return [...local.filter((l) => l.startsWith("components")), ...packages.filter((p) => p.startsWith("@pulumi/"))].map((x) => `${f} imports ${x}`);
  });
  expect(offenders).toEqual([]);
});

test("the checker finds a circle when there is one", () => {
  // a guard for the guard: a tiny graph with a circle, written to a temp dir under the root
  const dir = fs.mkdtempSync(path.join(ROOT, "test", ".layout-"));
  try {
    fs.writeFileSync(path.join(dir, "a.ts"), 'import { b } from "./b";\nexport const a = b;\n');
    fs.writeFileSync(path.join(dir, "b.ts"), 'import type { a } from "./a";\nexport const b = 1 as unknown as typeof a;\n');
    const rel = path.relative(ROOT, dir);
    expect(circles([path.join(rel, "a.ts"), path.join(rel, "b.ts")])).toEqual([`${rel}/a.ts > ${rel}/b.ts > ${rel}/a.ts`]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("every package.json export has its source (floe, floe/testing, floe/runtime)", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
  const missing = Object.entries(pkg.exports as Record<string, string>)
    .map(([k, js]) => [k, js.replace(/^\.\/dist\//, "").replace(/\.js$/, ".ts")])
    .filter(([, src]) => !fs.existsSync(path.join(ROOT, src)))
    .map(([k, src]) => `${k} -> ${src}`);
  expect(missing).toEqual([]);
});

test("a target string becomes code only in components/target.ts (dispatch)", () => {
  const offenders = componentFiles
    .filter((f) => f !== path.join("components", "target.ts"))
    .flatMap((f) =>
      fs
        .readFileSync(path.join(ROOT, f), "utf8")
        .split("\n")
        .map((line, i) => ({ line, at: `${f}:${i + 1}` }))
        .filter(({ line }) => /target ===|target ==|target !==/.test(line))
        .map(({ at, line }) => `${at}: ${line.trim()}`),
    );
  expect(offenders).toEqual([]);
});

test("no file in components/ is over 600 lines", () => {
  const long = componentFiles.map((f) => [f, fs.readFileSync(path.join(ROOT, f), "utf8").split("\n").length] as const).filter(([, n]) => n > 600);
  expect(long).toEqual([]);
});
