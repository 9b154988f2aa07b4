// STYLE.md: "a doc comment on every field that states the default". This keeps it true, and keeps
// public args free of union types of string literals (the multi-language analyzer rejects them).
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

const root = path.join(__dirname, "../../../components");
// every piece folder (postgres, pooler, storage, catalog, query, cdc, branch, upgrade, platform, local, …)
const dirs = fs
  .readdirSync(root, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name);

function exportedArgsInterfaces() {
  const out: { file: string; decl: ts.InterfaceDeclaration }[] = [];
  for (const d of dirs) {
    for (const f of fs.readdirSync(path.join(root, d)).filter((x) => x.endsWith(".ts"))) {
      const file = path.join(root, d, f);
      const src = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
      src.forEachChild((n) => {
        if (ts.isInterfaceDeclaration(n) && /Args$/.test(n.name.text) && n.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword))
          out.push({ file: `${d}/${f}`, decl: n });
      });
    }
  }
  return out;
}

test("every field of every exported *Args interface documents its default (or that it is required)", () => {
  const all = exportedArgsInterfaces();
  expect(all.length).toBeGreaterThan(20);
  const missing: string[] = [];
  for (const { file, decl } of all) {
    for (const m of decl.members) {
      const docs = ts
        .getJSDocCommentsAndTags(m)
        .map((x) => x.getText())
        .join(" ");
      if (!/Defaults? |Required/.test(docs)) missing.push(`${file} ${decl.name.text}.${m.name!.getText()}`);
    }
  }
  expect(missing).toEqual([]);
});

test("no string-literal union types in public args", () => {
  const offenders: string[] = [];
  for (const { file, decl } of exportedArgsInterfaces()) {
    for (const m of decl.members) {
      if (!ts.isPropertySignature(m) || !m.type) continue;
      const visit = (t: ts.Node): void => {
        if (ts.isUnionTypeNode(t) && t.types.some((x) => ts.isLiteralTypeNode(x)))
          offenders.push(`${file} ${decl.name.text}.${m.name.getText()}: ${t.getText()}`);
        t.forEachChild(visit);
      };
      visit(m.type);
    }
  }
  expect(offenders).toEqual([]);
});
