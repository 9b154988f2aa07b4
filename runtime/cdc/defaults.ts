/**
 * What the rows that existed before an `ALTER TABLE … ADD COLUMN` hold in the new column, and
 * making the Iceberg table's existing rows hold the same.
 *
 * Postgres sends nothing through logical decoding for those rows: with a non-volatile default it
 * keeps the value once in the catalog (pg_attribute.atthasmissing / attmissingval) and every old
 * row reads it; with a volatile default (now(), random(), clock_timestamp(), an identity or a
 * stored generated column) it rewrites the table, and decoding skips rewrites. So the writer asks
 * the catalog, by attnum:
 *   - a missing value: every old row holds it (exact, whatever happened since: attmissingval is
 *     fixed when the column is added and only cleared by a rewrite or a drop);
 *   - no missing value and no default, identity or generation expression now: old rows are null;
 *   - else (a volatile default, or a rewrite since cleared the missing value): the rows' values
 *     are read from the live table by primary key. Postgres is then ahead of the stream: a row
 *     changed since carries its newer value until the stream brings that change (which sets the
 *     same value), a row deleted since reads null until its delete comes: transient, and level
 *     with Postgres once the stream reaches the time of the read.
 *
 * Iceberg readers give a column that a data file lacks its field's `initial-default` (v3) or
 * null, and not every engine honours initial-default; so the writer rewrites the table's live rows
 * with the value, in the same catalog commit as the schema change (tables.ts evolve), and on a v3
 * table also records a constant as the field's initial-default. Changelog tables keep their
 * history as it was sent: only mirror tables are rewritten.
 */
import type { Client } from "pg";
import type { IndexKey } from "../iceberg/pkindex";
import type { StagedSchema } from "../iceberg/schema-update";
import type { Table } from "../iceberg/table";
import { fieldCodec } from "../iceberg/values";
import { quoteIdent, quoteTable, type SourceTable } from "./source";
import type { Column } from "./state";

/** The value old rows hold in an added column. */
export type ExistingRows =
  | { kind: "null" }
  /** One value for every old row (a canonical value of the column's Iceberg type), and its Postgres text. */
  | { kind: "value"; value: unknown; text: string }
  /** Per row, read from the live table (why: for the log). */
  | { kind: "live"; why: string };

/** Catalog query: an attribute's missing value (as the text of its one-element array) and whether it has a default now. */
const ATTRIBUTE_SQL = `
SELECT a.attname AS name, a.attisdropped AS dropped, a.atthasmissing AS "hasMissing",
       CASE WHEN a.atthasmissing THEN a.attmissingval::text END AS missing,
       format_type(a.atttypid, a.atttypmod) AS type, t.typcategory = 'A' AS "isArray",
       d.adrelid IS NOT NULL AS "hasDefault", a.attidentity <> '' AS identity, a.attgenerated <> '' AS generated
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1::regclass AND a.attnum = $2`;

/** What the old rows of `column` (an added column, placed on its attnum) hold, from the catalog now. */
export async function existingRows(c: Client, table: SourceTable, column: Column): Promise<ExistingRows> {
  const rel = quoteTable(table);
  const r = column.pg.attnum > 0 ? await c.query(ATTRIBUTE_SQL, [rel, column.pg.attnum]) : undefined;
  const a = r?.rows[0];
  if (!a) return { kind: "live", why: "the column's attnum is not known" };
  if (a.dropped) return { kind: "null" }; // dropped since: the stream drops it too, its values are gone
  if (a.hasMissing && !a.isArray) {
    // the one element of the anyarray, as text in the writer's session settings (the type comes from the catalog)
    const v = (await c.query(`SELECT (($1::text)::${a.type}[])[1]::text AS v`, [a.missing])).rows[0].v as string | null;
    return v === null ? { kind: "null" } : { kind: "value", value: column.mapped.convert(v), text: v };
  }
  if (a.hasMissing) return { kind: "live", why: "an array default" };
  if (a.hasDefault || a.identity || a.generated)
    return {
      kind: "live",
      why: a.identity ? "an identity column" : a.generated ? "a generated column" : "a volatile default (or a rewrite since the column was added)",
    };
  return { kind: "null" };
}

/** Per primary key (as `table` keys rows of the staged schema), the live value of `column`, read now. */
export async function liveValues(
  c: Client,
  source: SourceTable,
  table: Table,
  staged: StagedSchema,
  layout: readonly Column[],
  pk: readonly string[],
  column: Column,
): Promise<Map<IndexKey, unknown>> {
  const keyCols = pk.map((name) => {
    const col = layout.find((x) => x.pg.name === name);
    if (!col) throw new Error(`${source.schema}.${source.name}: primary key column ${name} is not in the layout`);
    return col;
  });
  // Names now, by attnum (a later rename in Postgres is not in the layout yet).
  const attnums = [...keyCols, column].map((x) => x.pg.attnum);
  const names = new Map<number, string>(
    (
      await c.query(`SELECT attnum, attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum = ANY($2::int[]) AND NOT attisdropped`, [
        quoteTable(source),
        attnums,
      ])
    ).rows.map((r) => [Number(r.attnum), r.attname as string]),
  );
  const out = new Map<IndexKey, unknown>();
  if (!names.has(column.pg.attnum) || keyCols.some((k) => !names.has(k.pg.attnum))) return out; // dropped since
  const ids = new Set(staged.schema["identifier-field-ids"] ?? []);
  const codecs = staged.schema.fields.filter((f) => ids.has(f.id)).map(fieldCodec);
  const list = [...keyCols, column].map((x) => `${quoteIdent(names.get(x.pg.attnum)!)}::text`).join(", ");
  const r = await c.query({ text: `SELECT ${list} FROM ${quoteTable(source)}`, rowMode: "array" });
  for (const row of r.rows as (string | null)[][]) {
    const key: Record<string, unknown> = {};
    keyCols.forEach((k, i) => (key[k.pg.name] = k.mapped.convert(row[i]!)));
    const v = row[keyCols.length];
    out.set(table.keyOf(key, codecs), v === null ? null : column.mapped.convert(v));
  }
  return out;
}
