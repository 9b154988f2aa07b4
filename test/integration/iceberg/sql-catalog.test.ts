/**
 * The table writer against a real Postgres SQL catalog, read back by chdb: inserts, updates and
 * deletes over many commits and schema changes, restart, concurrent writers, bad input.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";
import {
  CommitConflictError,
  CorruptMetadataError,
  NoSuchTableError,
  SqlCatalog,
  Table,
  ValidationError,
  fileUri,
  localPath,
  type TableIdentifier,
} from "../../../runtime/iceberg";
import { formatDecimal, parseDecimal } from "../../../runtime/iceberg/values";
import { chdbRows } from "../../helpers/chdb";

process.env.FLOE_LOG_LEVEL ??= "warn";

let pg: TestPostgres;
let warehouse: string;
const catalogs: SqlCatalog[] = [];

async function catalog(): Promise<SqlCatalog> {
  const c = await SqlCatalog.connect({ name: "floe", url: pg.url(), warehouse: fileUri(warehouse) });
  catalogs.push(c);
  return c;
}

beforeAll(async () => {
  pg = await startPostgres({ major: 17 });
  warehouse = mkdtempSync(join(tmpdir(), "floe-iceberg-"));
  const c = await catalog();
  await c.createNamespace(["db"]);
});

afterAll(async () => {
  for (const c of catalogs) await c.close().catch(() => undefined);
  await pg?.stop();
  if (warehouse) rmSync(warehouse, { recursive: true, force: true });
});

const DAY = 86_400_000;
const canonDecimal = (s: string) => {
  if (!s.includes(".")) return s === "-0" ? "0" : s;
  const t = s.replace(/0+$/, "").replace(/\.$/, "");
  return t === "-0" ? "0" : t;
};
const dateStr = (days: number) => new Date(days * DAY).toISOString().slice(0, 10);
const floatStr = (x: number) => (Number.isNaN(x) ? "nan" : x === Infinity ? "inf" : x === -Infinity ? "-inf" : String(x));

type Model = Map<bigint, Record<string, unknown>>;

describe("mirror table through the SQL catalog, read back by chdb", () => {
  const id: TableIdentifier = { namespace: ["db"], name: "orders" };
  const model: Model = new Map();
  let names = { name: "name", flag: "flag" as string | null, note: null as string | null };
  const amountScale = 3;

  const texts = [
    "plain",
    "ünïcödé ✓",
    "日本語テキスト",
    "emoji 🚀🎉",
    "",
    "quote ' and \" and \\ backslash",
    "a much longer string that exceeds sixteen characters 𝄞",
  ];
  const uuids = [
    "123e4567-e89b-12d3-a456-426614174000",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
  ];
  const decimals = ["0.000", "-12.340", "123456789.123", "-999999999.999", "0.001", "42"];
  const floats = [0.5, -1.25, NaN, Infinity, -Infinity, 0];

  function makeRow(i: bigint, version: number): Record<string, unknown> {
    const n = Number(i) + version * 7;
    const row: Record<string, unknown> = {
      id: i,
      [names.name]: n % 9 === 0 ? null : texts[n % texts.length] + ` #${i}v${version}`,
      amount: n % 11 === 0 ? null : decimals[n % decimals.length],
      at: n % 13 === 0 ? null : BigInt(1_700_000_000_000_000 + n * 1_000_001) * (n % 2 ? 1n : -1n),
      day: n % 5 === 0 ? null : n % 3 === 0 ? "2024-02-29" : 19000 - n * 37,
      uid: n % 7 === 0 ? null : uuids[n % uuids.length],
      data: n % 6 === 0 ? null : new Uint8Array([n & 0xff, 0, 255, (n * 31) & 0xff]),
      doc: n % 4 === 0 ? null : JSON.stringify({ k: n, s: texts[n % texts.length], arr: [1, null] }),
      qty: n % 8 === 0 ? null : ((n * 1000) % 2147483647) - 1000000,
      ratio: floats[n % floats.length],
      tags: n % 3 === 0 ? null : [`t${n}`, "ü", ""],
    };
    if (names.flag) row[names.flag] = n % 10 === 0 ? null : n % 2 === 0;
    if (names.note) row[names.note] = `note ${n}`;
    return row;
  }

  function expected(): Record<string, string | null>[] {
    return [...model.values()]
      .sort((a, b) => (BigInt(a.id as bigint) < BigInt(b.id as bigint) ? -1 : 1))
      .map((r) => {
        const o: Record<string, string | null> = {
          id: String(r.id),
          name: (r[names.name] as string | null) ?? null,
          amount:
            r.amount === null || r.amount === undefined ? null : canonDecimal(formatDecimal(parseDecimal(String(r.amount), 38, amountScale), amountScale)),
          at: r.at === null || r.at === undefined ? null : String(r.at),
          day: r.day === null || r.day === undefined ? null : typeof r.day === "string" ? r.day : dateStr(r.day as number),
          uid: (r.uid as string | null) ?? null,
          data: r.data ? Buffer.from(r.data as Uint8Array).toString("hex") : null,
          doc: (r.doc as string | null) ?? null,
          qty: r.qty === null || r.qty === undefined ? null : String(r.qty),
          ratio: r.ratio === null || r.ratio === undefined ? null : floatStr(r.ratio as number),
          tags: JSON.stringify(r.tags ?? []),
        };
        if (names.flag) o.flag = r[names.flag] === null || r[names.flag] === undefined ? null : String(r[names.flag]);
        if (names.note) o.note = (r[names.note] as string | undefined) ?? null;
        return o;
      });
  }

  function readBack(location: string): Record<string, string | null>[] {
    const cols = [
      "toString(id) AS id",
      `${names.name} AS name`,
      "toString(amount) AS amount",
      "toString(toUnixTimestamp64Micro(at)) AS at",
      "toString(day) AS day",
      "toString(uid) AS uid",
      "lower(hex(data)) AS data",
      "doc",
      "toString(qty) AS qty",
      "toString(ratio) AS ratio",
      "toJSONString(tags) AS tags",
    ];
    if (names.flag) cols.push(`toString(${names.flag}) AS flag`);
    if (names.note) cols.push(`${names.note} AS note`);
    const rows = chdbRows(location, cols.join(", ")).sort((a, b) => (BigInt(a.id!) < BigInt(b.id!) ? -1 : 1));
    return rows.map((r) => ({ ...r, amount: r.amount === null ? null : canonDecimal(r.amount) }));
  }

  it("writes inserts, updates and deletes over many commits and schema changes; chdb reads exactly the model", async () => {
    const cat = await catalog();
    const table = await Table.create(cat, id, {
      columns: [
        { name: "id", type: "long", required: true },
        { name: "name", type: "string" },
        { name: "amount", type: "decimal(12,3)" },
        { name: "at", type: "timestamptz" },
        { name: "day", type: "date" },
        { name: "uid", type: "uuid" },
        { name: "data", type: "binary" },
        { name: "flag", type: "boolean" },
        { name: "doc", type: "string", doc: "jsonb as text" },
        { name: "qty", type: "int" },
        { name: "ratio", type: "float" },
        { name: "tags", type: { list: "string" } },
      ],
      identifier: ["id"],
    });

    let lsn = 0;
    const step = async (version: number, upserts: bigint[], deletes: bigint[]) => {
      const tx = table.newWrite();
      const rows = upserts.map((i) => makeRow(i, version));
      tx.upsert(rows);
      tx.delete(deletes.map((i) => ({ id: i })));
      tx.setSummary({ "floe.lsn.shard-0": `0/${(++lsn).toString(16)}` });
      await tx.commit();
      for (const r of rows) model.set(r.id as bigint, r);
      for (const d of deletes) model.delete(d);
    };

    const range = (a: number, b: number) => Array.from({ length: b - a }, (_, k) => BigInt(a + k));
    await step(0, range(0, 60), []);
    await step(1, range(50, 80), range(0, 5)); // updates 50..59, inserts 60..79, deletes 0..4
    await step(2, [10n, 11n, 10n], [11n, 3n]); // same key twice in a batch; delete after upsert wins; delete of a missing key
    await step(3, [], range(20, 30));
    expect(readBack(table.location)).toEqual(expected());

    // schema evolution: add, rename, widen int->long, float->double, decimal precision, drop
    await table
      .updateSchema()
      .addColumn("note", "string")
      .renameColumn("name", "title")
      .updateColumnType("qty", "long")
      .updateColumnType("ratio", "double")
      .updateColumnType("amount", "decimal(16,3)")
      .commit();
    names = { name: "title", flag: "flag", note: "note" };
    for (const r of model.values()) {
      r.title = r.name;
      delete r.name;
    }
    await step(4, range(70, 90), range(30, 35));
    await table.updateSchema().dropColumn("flag").commit();
    names = { name: "title", flag: null, note: "note" };
    await step(5, [...range(85, 95), 40n, 41n], [42n]);
    for (let v = 6; v < 12; v++) await step(v, range(40 + v * 3, 46 + v * 3), [BigInt(90 + v)]);
    expect(table.schema().fields.map((f) => f.name)).toEqual(["id", "title", "amount", "at", "day", "uid", "data", "doc", "qty", "ratio", "tags", "note"]);

    const got = readBack(table.location);
    expect(got.length).toBe(model.size);
    expect(got).toEqual(expected());
    expect(table.indexedRows).toBe(model.size);
    expect(table.summaryProperty("floe.lsn.shard-0")).toBe(`0/${lsn.toString(16)}`);
    const snap = table.currentSnapshot()!;
    expect(Number(snap["sequence-number"])).toBe(table.metadata["last-sequence-number"]);
    expect(table.metadata.snapshots.length).toBe(12);
    expect(new Set(table.metadata.snapshots.map((s) => String(s["snapshot-id"]))).size).toBe(12);

    // restart: a new catalog connection and Table.load rebuild the index from the table alone
    const again = await Table.load(await catalog(), id);
    expect(again.indexedRows).toBe(model.size);
    expect(again.summaryProperty("floe.lsn.shard-0")).toBe(`0/${lsn.toString(16)}`);
    const tx = again
      .newWrite()
      .upsert([makeRow(41n, 99), makeRow(500n, 99)])
      .delete([{ id: 86n }]);
    await tx.commit();
    model.set(41n, makeRow(41n, 99));
    model.set(500n, makeRow(500n, 99));
    model.delete(86n);
    expect(readBack(again.location)).toEqual(expected());
    // carried summary property survives a commit that did not set it
    expect(again.summaryProperty("floe.lsn.shard-0")).toBe(`0/${lsn.toString(16)}`);

    // compaction rewrites the files with deletes (written under older schemas) and drops the delete files
    expect(Number(again.currentSnapshot()!.summary["total-delete-files"])).toBeGreaterThan(0);
    const c = await again.compact({ deletes: true });
    expect(c).toBeDefined();
    expect(again.currentSnapshot()!.summary).toMatchObject({
      operation: "replace",
      "total-delete-files": "0",
      "total-position-deletes": "0",
      "total-records": String(model.size),
    });
    expect(readBack(again.location)).toEqual(expected());
    expect((await Table.load(await catalog(), id)).indexedRows).toBe(model.size);
    await again
      .newWrite()
      .upsert([makeRow(42n, 101)])
      .delete([{ id: 43n }])
      .commit();
    model.set(42n, makeRow(42n, 101));
    model.delete(43n);
    expect(readBack(again.location)).toEqual(expected());
    expect(again.summaryProperty("floe.lsn.shard-0")).toBe(`0/${lsn.toString(16)}`);
  });

  it("truncate removes every row in one snapshot and the table keeps working", async () => {
    const table = await Table.load(await catalog(), id);
    const before = table.metadata.snapshots.length;
    await table.truncate({ "floe.lsn.shard-0": "0/FFFF" });
    expect(table.metadata.snapshots.length).toBe(before + 1);
    expect(table.currentSnapshot()!.summary.operation).toBe("delete");
    expect(chdbRows(table.location, "toString(count()) AS n")).toEqual([{ n: "0" }]);
    expect(table.indexedRows).toBe(0);
    model.clear();
    await table
      .newWrite()
      .upsert([makeRow(7n, 100)])
      .commit();
    model.set(7n, makeRow(7n, 100));
    expect(readBack(table.location)).toEqual(expected());
    const reloaded = await Table.load(await catalog(), id);
    expect(reloaded.indexedRows).toBe(1);
    expect(reloaded.summaryProperty("floe.lsn.shard-0")).toBe("0/FFFF");
  });
});

describe("concurrent writers", () => {
  it("two writers committing to one table at once: both land, nothing lost or duplicated", async () => {
    const id: TableIdentifier = { namespace: ["db"], name: "concurrent" };
    await Table.create(await catalog(), id, {
      columns: [
        { name: "k", type: "long", required: true },
        { name: "writer", type: "string" },
        { name: "n", type: "int" },
      ],
      identifier: ["k"],
    });
    const a = await Table.load(await catalog(), id, { retryBaseMs: 5, maxCommitAttempts: 30 });
    const b = await Table.load(await catalog(), id, { retryBaseMs: 5, maxCommitAttempts: 30 });
    const expectedRows = new Map<string, string>();
    const run = async (t: Table, name: string, base: number) => {
      let attempts = 0;
      for (let c = 0; c < 6; c++) {
        const rows = Array.from({ length: 20 }, (_, i) => ({ k: BigInt(base + c * 20 + i), writer: name, n: c }));
        // both writers also update the same shared keys: exactly one row per key must survive
        rows.push({ k: 1_000_000n + BigInt(c % 3), writer: name, n: c });
        const r = await t
          .newWrite()
          .upsert(rows)
          .setSummary({ [`floe.lsn.${name}`]: String(c) })
          .commit();
        attempts += r.attempts;
      }
      return attempts;
    };
    const [ax, bx] = await Promise.all([run(a, "a", 0), run(b, "b", 10_000)]);
    for (let c = 0; c < 6; c++)
      for (let i = 0; i < 20; i++) {
        expectedRows.set(String(c * 20 + i), "a");
        expectedRows.set(String(10_000 + c * 20 + i), "b");
      }
    const rows = chdbRows(a.location, "toString(k) AS k, writer");
    const keys = rows.map((r) => r.k);
    expect(new Set(keys).size).toBe(keys.length); // no duplicates
    expect(rows.length).toBe(expectedRows.size + 3);
    for (const r of rows) if (!r.k!.startsWith("100000")) expect(r.writer).toBe(expectedRows.get(r.k!));
    const final = await Table.load(await catalog(), id);
    expect(final.metadata.snapshots.length).toBe(12); // one snapshot per commit
    expect(final.indexedRows).toBe(expectedRows.size + 3);
    // both writers' summary properties are carried forward
    expect(final.summaryProperty("floe.lsn.a")).toBe("5");
    expect(final.summaryProperty("floe.lsn.b")).toBe("5");
    expect(ax + bx).toBeGreaterThanOrEqual(12);
  });

  it("a writer with a stale base rebases: reload, re-plan deletes against the other writer's rows", async () => {
    const id: TableIdentifier = { namespace: ["db"], name: "stale" };
    await Table.create(await catalog(), id, {
      columns: [
        { name: "k", type: "int", required: true },
        { name: "v", type: "string" },
      ],
      identifier: ["k"],
    });
    const a = await Table.load(await catalog(), id);
    const b = await Table.load(await catalog(), id);
    await a
      .newWrite()
      .upsert([
        { k: 1, v: "a1" },
        { k: 2, v: "a2" },
      ])
      .commit();
    // b has not seen a's commit: its first attempt conflicts; after the rebase its update of k=1
    // must delete a's row (found by catching the index up), not leave a duplicate.
    const r = await b
      .newWrite()
      .upsert([{ k: 1, v: "b1" }])
      .delete([{ k: 2 }])
      .commit();
    expect(r.attempts).toBe(2);
    expect(chdbRows(b.location, "k, v", "ORDER BY k")).toEqual([{ k: 1, v: "b1" }]);
  });
});

describe("SQL catalog API (Iceberg JDBC catalog schema)", () => {
  it("creates, lists and drops namespaces and tables in iceberg_tables / iceberg_namespace_properties", async () => {
    const cat = await catalog();
    await cat.createNamespace(["ns", "inner"], { owner: "floe" });
    await expect(cat.createNamespace(["ns", "inner"])).rejects.toThrow(/already exists/);
    expect(await cat.namespaceExists(["ns", "inner"])).toBe(true);
    expect(await cat.listNamespaces()).toEqual(expect.arrayContaining([["db"], ["ns", "inner"]]));
    const id = { namespace: ["ns", "inner"], name: "t" };
    await expect(Table.create(cat, { namespace: ["nope"], name: "t" }, { columns: [{ name: "a", type: "int" }] })).rejects.toThrow(
      /namespace nope does not exist/,
    );
    const t = await Table.create(cat, id, { columns: [{ name: "a", type: "int" }] });
    await expect(Table.create(cat, id, { columns: [{ name: "a", type: "int" }] })).rejects.toThrow(/ns\.inner\.t already exists/);
    expect(await cat.listTables(["ns", "inner"])).toEqual([id]);
    const rows = await pg.sql(
      "SELECT catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location, iceberg_type FROM iceberg_tables WHERE table_name = 't'",
    );
    expect(rows).toEqual([
      {
        catalog_name: "floe",
        table_namespace: "ns.inner",
        table_name: "t",
        metadata_location: t.metadataLocation,
        previous_metadata_location: null,
        iceberg_type: "TABLE",
      },
    ]);
    await t
      .newWrite()
      .append([{ a: 1 }])
      .commit();
    const after = await pg.sql("SELECT metadata_location, previous_metadata_location FROM iceberg_tables WHERE table_name = 't'");
    expect(after[0].previous_metadata_location).toBe(rows[0].metadata_location);
    expect(after[0].metadata_location).toBe(t.metadataLocation);
    expect(t.metadataLocation).toMatch(/\/metadata\/00001-[0-9a-f-]+\.metadata\.json$/);
    await expect(cat.dropNamespace(["ns", "inner"])).rejects.toThrow(/not empty/);
    await cat.dropTable(id);
    expect(await cat.tableExists(id)).toBe(false);
    await cat.dropNamespace(["ns", "inner"]);
    expect(await cat.namespaceExists(["ns", "inner"])).toBe(false);
  });
});

describe("bad input", () => {
  it("a schema with an unsupported type is refused with a clear error and nothing is created", async () => {
    const cat = await catalog();
    const id = { namespace: ["db"], name: "bad_type" };
    await expect(
      Table.create(cat, id, {
        columns: [
          { name: "id", type: "long", required: true },
          { name: "span", type: "interval" },
        ],
      }),
    ).rejects.toThrow(/column "span": unsupported type "interval"; supported: boolean, int, long/);
    await expect(Table.create(cat, id, { columns: [{ name: "m", type: { list: { list: "int" } } as never }] })).rejects.toThrow(ValidationError);
    expect(await cat.tableExists(id)).toBe(false);
  });

  it("a missing table is a NoSuchTableError naming it", async () => {
    await expect(Table.load(await catalog(), { namespace: ["db"], name: "nope" })).rejects.toThrow(NoSuchTableError);
    await expect(Table.load(await catalog(), { namespace: ["db"], name: "nope" })).rejects.toThrow(/db\.nope does not exist/);
  });

  it("a commit against a stale base is refused by the catalog and the table stays readable", async () => {
    const cat = await catalog();
    const id = { namespace: ["db"], name: "cas" };
    const t = await Table.create(cat, id, { columns: [{ name: "k", type: "int", required: true }], identifier: ["k"] });
    await t
      .newWrite()
      .upsert([{ k: 1 }])
      .commit();
    const staleParent = null; // the base before the first commit
    await expect(
      cat.commitTable(id, [{ type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": staleParent }], [{ action: "set-properties", updates: { x: "y" } }]),
    ).rejects.toThrow(CommitConflictError);
    const loaded = await cat.loadTable(id);
    expect(loaded.metadata.properties.x).toBeUndefined();
    expect(chdbRows(t.location, "k")).toEqual([{ k: 1 }]);
  });

  it("rows that do not fit the schema are refused before any file is written", async () => {
    const cat = await catalog();
    const id = { namespace: ["db"], name: "bad_rows" };
    const t = await Table.create(cat, id, {
      columns: [
        { name: "k", type: "long", required: true },
        { name: "d", type: "decimal(5,2)" },
        { name: "s", type: "string", required: true },
      ],
      identifier: ["k"],
    });
    await t
      .newWrite()
      .upsert([{ k: 1n, d: "1.50", s: "ok" }])
      .commit();
    const dataDir = join(localPath(t.location), "data");
    const before = readdirSync(dataDir).sort();
    await expect(
      t
        .newWrite()
        .upsert([{ k: 2n, d: "1234.5", s: "x" }])
        .commit(),
    ).rejects.toThrow(/column "d": 1234.5 does not fit decimal\(5,2\)/);
    await expect(
      t
        .newWrite()
        .upsert([{ k: 3n, d: 1.5, s: "x" }])
        .commit(),
    ).rejects.toThrow(/expected a decimal string/);
    await expect(
      t
        .newWrite()
        .upsert([{ k: 4n, s: null }])
        .commit(),
    ).rejects.toThrow(/column "s" is required/);
    expect(() => t.newWrite().upsert([{ s: "no key" }])).toThrow(/key column "k" is missing/);
    expect(readdirSync(dataDir).sort()).toEqual(before);
    expect(chdbRows(t.location, "toString(k) AS k, toString(d) AS d, s")).toEqual([{ k: "1", d: "1.5", s: "ok" }]);
  });

  it("a failed commit deletes the files it wrote; the table is unchanged", async () => {
    const cat = await catalog();
    const id = { namespace: ["db"], name: "fail_commit" };
    const t = await Table.create(cat, id, { columns: [{ name: "k", type: "int", required: true }], identifier: ["k"] });
    await t
      .newWrite()
      .upsert([{ k: 1 }])
      .commit();
    const files = () => [...readdirSync(join(localPath(t.location), "data")), ...readdirSync(join(localPath(t.location), "metadata"))].sort();
    const before = files();
    const real = cat.commitTable.bind(cat);
    cat.commitTable = async () => {
      throw new Error("catalog unavailable");
    };
    try {
      await expect(
        t
          .newWrite()
          .upsert([{ k: 2 }])
          .delete([{ k: 1 }])
          .commit(),
      ).rejects.toThrow(/catalog unavailable/);
    } finally {
      cat.commitTable = real;
    }
    expect(files()).toEqual(before);
    expect(chdbRows(t.location, "k")).toEqual([{ k: 1 }]);
    await t
      .newWrite()
      .upsert([{ k: 2 }])
      .commit();
    expect(chdbRows(t.location, "k", "ORDER BY k")).toEqual([{ k: 1 }, { k: 2 }]);
  });

  it("a corrupted metadata file is a CorruptMetadataError naming the file; restoring the pointer makes the table readable", async () => {
    const cat = await catalog();
    const id = { namespace: ["db"], name: "corrupt" };
    const t = await Table.create(cat, id, { columns: [{ name: "k", type: "int", required: true }], identifier: ["k"] });
    await t
      .newWrite()
      .upsert([{ k: 1 }, { k: 2 }])
      .commit();
    const good = t.metadataLocation;
    const badPath = good.replace(/\/(\d+)-[^/]+$/, "/99999-corrupt.metadata.json");
    writeFileSync(localPath(badPath), readFileSync(localPath(good), "utf8").slice(0, 200));
    await pg.sql(`UPDATE iceberg_tables SET metadata_location='${badPath}' WHERE table_name='corrupt'`);
    await expect(Table.load(cat, id)).rejects.toThrow(CorruptMetadataError);
    await expect(Table.load(cat, id)).rejects.toThrow(/99999-corrupt\.metadata\.json is not valid JSON/);
    // a writer holding the good base cannot commit over the broken pointer either
    await expect(
      t
        .newWrite()
        .upsert([{ k: 3 }])
        .commit(),
    ).rejects.toThrow(CorruptMetadataError);
    await pg.sql(`UPDATE iceberg_tables SET metadata_location='${good}' WHERE table_name='corrupt'`);
    rmSync(localPath(badPath));
    const again = await Table.load(cat, id);
    expect(again.indexedRows).toBe(2);
    expect(chdbRows(t.location, "k", "ORDER BY k")).toEqual([{ k: 1 }, { k: 2 }]);
  });

  it("a corrupted manifest is reported by path when the index is rebuilt", async () => {
    const cat = await catalog();
    const id = { namespace: ["db"], name: "corrupt_manifest" };
    const t = await Table.create(cat, id, { columns: [{ name: "k", type: "int", required: true }], identifier: ["k"] });
    await t
      .newWrite()
      .upsert([{ k: 1 }])
      .commit();
    const metaDir = join(localPath(t.location), "metadata");
    const manifest = readdirSync(metaDir).find((f) => f.endsWith("-m0.avro"))!;
    const original = readFileSync(join(metaDir, manifest));
    writeFileSync(join(metaDir, manifest), original.subarray(0, 40));
    await expect(Table.load(cat, id)).rejects.toThrow(new RegExp(`manifest .*${manifest}: cannot decode Avro file`));
    writeFileSync(join(metaDir, manifest), original);
    expect((await Table.load(cat, id)).indexedRows).toBe(1);
  });
});
