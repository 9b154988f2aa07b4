/**
 * `floe query "SELECT ..."`: the local target's query engine. Runs SQL in chdb (ClickHouse
 * in-process) over the platform's Iceberg tables, addressed by name: every `<namespace>.<table>`
 * reference (default namespace "floe") is rewritten to `icebergLocal('<table location>')`, the
 * location read from the current metadata file that the SQL catalog points at.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Client } from "pg";

export const usage = `usage: floe query [--catalog URI] [--namespace NS] [--json] "SELECT ... FROM floe.<table> ..."
       floe query --tables [--catalog URI] [--namespace NS] [--json]

Queries the platform's Iceberg tables with chdb (ClickHouse in-process). <namespace>.<table> names
a table of the SQL catalog; it is rewritten to icebergLocal('<its location>').

options:
  --catalog URI     Postgres URL of the SQL catalog. Defaults to $FLOE_CATALOG_URI. For the
                    local stack, npm run up prints it, and from the repo root:
                    export FLOE_CATALOG_URI="$(npm run -s pulumi -- stack output catalogUri --show-secrets)"
  --catalog-name N  catalog_name in the catalog tables. Defaults to floe.
  --namespace NS    Iceberg namespace. Defaults to floe.
  --tables          list the tables and their locations instead of querying
  --json            rows as a JSON array instead of a table
Exit codes: 0 ok, 1 the query failed, 2 bad usage.`;

export interface CatalogTable {
  name: string;
  metadataLocation: string;
  /** file path of the table's root directory. */
  location: string;
}

/** Tables of one namespace in an Iceberg JDBC (SQL) catalog, with their current locations. */
export async function catalogTables(uri: string, catalogName: string, namespace: string): Promise<CatalogTable[]> {
  const client = new Client({ connectionString: uri });
  await client.connect();
  try {
    const exists = await client.query("SELECT to_regclass('iceberg_tables') AS t");
    if (!exists.rows[0].t) return [];
    const res = await client.query(
      "SELECT table_name, metadata_location FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2 ORDER BY table_name",
      [catalogName, namespace],
    );
    return res.rows.map((r) => ({ name: r.table_name, metadataLocation: r.metadata_location, location: tableLocation(r.metadata_location) }));
  } finally {
    await client.end();
  }
}

function toPath(uri: string): string {
  return uri.startsWith("file:") ? fileURLToPath(uri) : uri;
}

/** The table's root directory: the `location` of its current metadata file. */
export function tableLocation(metadataLocation: string): string {
  const file = toPath(metadataLocation);
  if (existsSync(file)) {
    const loc = JSON.parse(readFileSync(file, "utf8")).location as string | undefined;
    if (loc) return toPath(loc).replace(/\/+$/, "");
  }
  return file.replace(/\/metadata\/[^/]+$/, "");
}

const sqlString = (s: string) => "'" + s.replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "'";

/**
 * Rewrites `<namespace>.<table>` references outside string literals and quoted identifiers into
 * icebergLocal('<location>'). Unknown tables of the namespace are an error naming the known ones.
 */
export function rewriteSql(sql: string, namespace: string, tables: Map<string, string>): string {
  const ns = namespace.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const ref = new RegExp(`(^|[^\\w.])${ns}\\.([A-Za-z_][A-Za-z0-9_$]*)\\b`, "g");
  let out = "";
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i];
    if (ch === "'" || ch === '"' || ch === "`") {
      let j = i + 1;
      while (j < sql.length && sql[j] !== ch) j += sql[j] === "\\" ? 2 : 1;
      out += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < sql.length && !["'", '"', "`"].includes(sql[j])) j++;
    out += sql.slice(i, j).replace(ref, (_m, pre: string, table: string) => {
      const loc = tables.get(table);
      if (!loc) {
        const known = [...tables.keys()];
        throw new Error(`no table ${namespace}.${table} in the catalog (tables: ${known.length ? known.join(", ") : "none yet"})`);
      }
      return `${pre}icebergLocal(${sqlString(loc)})`;
    });
    i = j;
  }
  return out;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        catalog: { type: "string" },
        "catalog-name": { type: "string", default: "floe" },
        namespace: { type: "string", default: "floe" },
        tables: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
      },
    });
  } catch (e) {
    process.stderr.write(`floe query: ${(e as Error).message}\n\n${usage}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const uri = values.catalog ?? process.env.FLOE_CATALOG_URI;
  if (!uri) {
    process.stderr.write(`floe query: no catalog: pass --catalog URI or set FLOE_CATALOG_URI\n\n${usage}\n`);
    return 2;
  }
  const sql = positionals.join(" ").trim();
  if (!values.tables && !sql) {
    process.stderr.write(`floe query: no SQL given\n\n${usage}\n`);
    return 2;
  }
  let tables: CatalogTable[];
  try {
    tables = await catalogTables(uri, values["catalog-name"]!, values.namespace!);
  } catch (e) {
    process.stderr.write(`floe query: cannot read the catalog: ${(e as Error).message}\n`);
    return 1;
  }
  if (values.tables) {
    if (values.json) process.stdout.write(JSON.stringify(tables, null, 2) + "\n");
    else for (const t of tables) process.stdout.write(`${values.namespace}.${t.name}\t${t.location}\n`);
    return 0;
  }
  let rewritten: string;
  try {
    rewritten = rewriteSql(sql, values.namespace!, new Map(tables.map((t) => [t.name, t.location])));
  } catch (e) {
    process.stderr.write(`floe query: ${(e as Error).message}\n`);
    return 1;
  }
  // chdb is loaded only here: listing tables does not need it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- chdb is a large native module, loaded on demand
  const chdb = require("chdb") as { query(sql: string, format?: string): string };
  // chdb reads files only below its user_files_path, the working directory: run from the
  // deepest directory that holds every table (the warehouse root, usually).
  const cwd = process.cwd();
  try {
    if (tables.length) process.chdir(commonDir(tables.map((t) => t.location)));
    if (values.json) {
      const text = chdb.query(rewritten, "JSONEachRow");
      const rows = text
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l));
      process.stdout.write(JSON.stringify(rows) + "\n");
    } else {
      process.stdout.write(chdb.query(rewritten, "PrettyCompactMonoBlock"));
    }
  } catch (e) {
    process.stderr.write(`floe query: ${(e as Error).message}\n`);
    return 1;
  } finally {
    process.chdir(cwd);
  }
  return 0;
}

/** The deepest directory containing every path. */
export function commonDir(paths: string[]): string {
  const split = paths.map((p) => p.split("/").filter(Boolean));
  const common: string[] = [];
  for (let i = 0; split.every((s) => i < s.length && s[i] === split[0][i]); i++) common.push(split[0][i]);
  return "/" + common.join("/");
}
