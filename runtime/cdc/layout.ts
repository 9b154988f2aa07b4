/**
 * Column layouts as the stream announces them. A pgoutput relation message lists a table's
 * columns (name, type oid, type modifier) in attnum order, but not their attnums: the writer
 * needs those to tell a rename from a drop and an add. The relation message is the truth for the
 * point in WAL it was sent at; the catalog is the truth for now, which may be far ahead when the
 * writer is behind (changes made while it was down, or during its initial copy).
 *
 * resolveAttnums() places a relation message's columns on attnums using the layout the writer
 * held before (attnums known) and the catalog now (every attnum, dropped ones included), with
 * what Postgres guarantees: attnums only grow (a new column gets a higher one than any before it)
 * and are never reused; a column alive now that existed before existed at every point between.
 * Among the placements that respect that, the one matching most names wins; a tie (e.g. DROP x
 * then ADD x while the writer was down) is reported as ambiguous, never guessed silently.
 *
 * Types come from the relation message (the type the values were sent in), resolved through the
 * catalog by oid (domains to their base type) and mapped to Iceberg by runtime/cdc/types.ts.
 * Pure functions apart from the two catalog queries; table-tested in test/unit/cdc/layout.test.ts.
 */
import type { Client } from "pg";
import type { RelationColumn } from "./pgoutput";
import type { Column } from "./state";
import { mapColumn, type PgColumn } from "./types";

/** One attnum of the table's catalog now, dropped ones included (their name is then meaningless). */
export interface CatalogAttribute {
  attnum: number;
  name: string;
  dropped: boolean;
}

/** A column of the layout held before, by name; its attnum when known. */
export interface ReferenceColumn {
  name: string;
  attnum?: number;
}

export type Resolution = { attnums: number[]; ambiguous: false } | { ambiguous: true; reason: string };

/** The attnums of a relation message's columns (`names`, in attnum order); see the file head. */
export function resolveAttnums(reference: readonly ReferenceColumn[], names: readonly string[], catalog: readonly CatalogAttribute[]): Resolution {
  const byAttnum = new Map(catalog.map((a) => [a.attnum, a]));
  const unknown = reference.filter((r) => r.attnum === undefined);
  const sameNames = names.length === reference.length && names.every((n, i) => reference[i].name === n);
  if (sameNames && unknown.length === 0) {
    // Nothing to place, unless a column of that name was dropped and added again since.
    for (const r of reference) {
      const now = byAttnum.get(r.attnum!);
      if (now && !now.dropped) continue;
      if (catalog.some((a) => !a.dropped && a.name === r.name && a.attnum > r.attnum!)) {
        return {
          ambiguous: true,
          reason: `column ${r.name} (attnum ${r.attnum}) was dropped and a column of the same name added since; the stream cannot say which one it shows`,
        };
      }
    }
    return { attnums: reference.map((r) => r.attnum!), ambiguous: false };
  }
  if (unknown.length) return { ambiguous: true, reason: `the attnums of ${unknown.map((r) => r.name).join(", ")} are not known` };

  const maxRef = Math.max(0, ...reference.map((r) => r.attnum!));
  const refByAttnum = new Map(reference.map((r) => [r.attnum!, r.name]));
  const attnums = [...new Set([...reference.map((r) => r.attnum!), ...catalog.filter((a) => a.attnum > maxRef).map((a) => a.attnum)])].sort((a, b) => a - b);
  const cands = attnums.map((attnum) => {
    const now = byAttnum.get(attnum);
    const alive = now !== undefined && !now.dropped;
    const isRef = refByAttnum.has(attnum);
    return { attnum, refName: refByAttnum.get(attnum), current: alive ? now!.name : undefined, must: isRef && alive, newAlive: !isRef && alive };
  });
  const n = names.length;
  const m = cands.length;
  // best[i][j][f]: best score placing names[i..] on cands[j..], f = an alive new column was skipped
  // (then no later new column can be placed: it was added after one the stream does not show yet).
  type Cell = { score: number; ways: number };
  const NONE: Cell = { score: -Infinity, ways: 0 };
  const memo = new Map<number, Cell>();
  const solve = (i: number, j: number, f: number): Cell => {
    const k = (i * (m + 1) + j) * 2 + f;
    const hit = memo.get(k);
    if (hit) return hit;
    let out: Cell;
    if (j === m) out = i === n ? { score: 0, ways: 1 } : NONE;
    else {
      const c = cands[j];
      const options: Cell[] = [];
      if (!c.must) options.push(solve(i, j + 1, f || (c.newAlive ? 1 : 0)));
      if (i < n && !(c.newAlive && f)) {
        const rest = solve(i + 1, j + 1, f);
        const gain = names[i] === c.refName || names[i] === c.current ? 2 : 0;
        options.push({ score: rest.score + gain, ways: rest.ways });
      }
      const score = Math.max(-Infinity, ...options.map((o) => o.score));
      out =
        score === -Infinity
          ? NONE
          : {
              score,
              ways: Math.min(
                2,
                options.filter((o) => o.score === score).reduce((a, o) => a + o.ways, 0),
              ),
            };
    }
    memo.set(k, out);
    return out;
  };
  const best = solve(0, 0, 0);
  if (best.ways === 0)
    return {
      ambiguous: true,
      reason: `no placement of (${names.join(", ")}) on the catalog's attnums fits the layout held before (${reference.map((r) => r.name).join(", ")})`,
    };
  if (best.ways > 1) return { ambiguous: true, reason: `(${names.join(", ")}) can be placed on the catalog's attnums in more than one way` };
  const out: number[] = [];
  for (let i = 0, j = 0, f = 0; i < n; j++) {
    const c = cands[j];
    const rest = i < n && !(c.newAlive && f) ? solve(i + 1, j + 1, f) : NONE;
    const gain = names[i] === c.refName || names[i] === c.current ? 2 : 0;
    if (rest.ways > 0 && rest.score + gain === solve(i, j, f).score) {
      out.push(c.attnum);
      i++;
    } else f = f || (c.newAlive ? 1 : 0);
  }
  return { attnums: out, ambiguous: false };
}

/**
 * Attnums by name alone, for when the placement is ambiguous and nothing better can be done:
 * a name held before keeps its attnum, else the live column of that name, else a fresh negative
 * number (a column new to the writer).
 */
export function attnumsByName(reference: readonly ReferenceColumn[], names: readonly string[], catalog: readonly CatalogAttribute[]): number[] {
  let fresh = 0;
  return names.map((n) => reference.find((r) => r.name === n)?.attnum ?? catalog.find((a) => !a.dropped && a.name === n)?.attnum ?? --fresh);
}

/** Catalog query: every attnum of a table (by oid), dropped ones included. */
export const ATTRIBUTES_SQL = `
SELECT attnum, attname AS name, attisdropped AS dropped
FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 ORDER BY attnum`;

/** Catalog query: a type by oid and modifier, domains resolved to their base, arrays to their element. */
export const TYPE_SQL = `
WITH RECURSIVE base(typid, typmod, depth) AS (
  SELECT $1::oid, $2::int, 0
  UNION ALL
  SELECT t.typbasetype, CASE WHEN b.typmod = -1 THEN t.typtypmod ELSE b.typmod END, b.depth + 1
  FROM base b JOIN pg_type t ON t.oid = b.typid WHERE t.typtype = 'd'
)
SELECT t.typname AS "typeName", t.typtype AS "typType", b.typmod AS "typeMod",
       e.typname AS "elemTypeName", e.typtype AS "elemTypType", format_type($1::oid, $2::int) AS declared
FROM (SELECT * FROM base ORDER BY depth DESC LIMIT 1) b
JOIN pg_type t ON t.oid = b.typid
LEFT JOIN pg_type e ON t.typcategory = 'A' AND e.oid = t.typelem`;

type TypeInfo = Pick<PgColumn, "typeName" | "typType" | "typeMod" | "elemTypeName" | "elemTypType" | "declared">;

/** Types by (oid, modifier) of one server, read once each. */
export class TypeCache {
  private readonly types = new Map<string, TypeInfo>();

  async get(client: () => Promise<Client>, oid: number, typeMod: number): Promise<TypeInfo> {
    const k = `${oid}/${typeMod}`;
    let t = this.types.get(k);
    if (!t) {
      const c = await client();
      const r = await c.query(TYPE_SQL, [oid, typeMod]);
      if (!r.rowCount) throw new Error(`type oid ${oid} of a replicated column is not in the catalog (dropped since?)`);
      const row = r.rows[0];
      t = {
        typeName: row.typeName,
        typType: row.typType,
        typeMod: row.typeMod,
        elemTypeName: row.elemTypeName ?? undefined,
        elemTypType: row.elemTypType ?? undefined,
        declared: row.declared,
      };
      this.types.set(k, t);
    }
    return t;
  }
}

/** A relation message's columns with their attnums and types, mapped to Iceberg. */
export async function relationLayout(
  table: string,
  columns: readonly RelationColumn[],
  attnums: readonly number[],
  types: TypeCache,
  client: () => Promise<Client>,
): Promise<Column[]> {
  const out: Column[] = [];
  for (let i = 0; i < columns.length; i++) {
    const rc = columns[i];
    const t = await types.get(client, rc.typeOid, rc.typeMod);
    const pg: PgColumn = { name: rc.name, attnum: attnums[i], notNull: false, ...t };
    out.push({ pg, mapped: mapColumn(pg, table) });
  }
  return out;
}
