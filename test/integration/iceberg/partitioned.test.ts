/**
 * Identity-partitioned mirror tables and append-only changelog tables, read back by chdb,
 * including filtered queries that exercise partition and min/max pruning (wrong bounds in the
 * manifests would make ClickHouse skip files that hold matching rows).
 */
import { mkdtempSync, rmSync, readdirSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { MemoryCatalog, Table, fileUri, localPath } from "../../../runtime/iceberg";
import { chdbRows } from "../../helpers/chdb";

process.env.FLOE_LOG_LEVEL ??= "warn";
let dir: string;
let cat: MemoryCatalog;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "floe-iceberg-part-"));
  cat = new MemoryCatalog(fileUri(dir));
  await cat.createNamespace(["db"]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("partitioned mirror table", () => {
  it("writes one data file per partition, position deletes next to their data files, and reads back with pruning", async () => {
    const t = await Table.create(
      cat,
      { namespace: ["db"], name: "events" },
      {
        columns: [
          { name: "id", type: "long", required: true },
          { name: "region", type: "string", required: true },
          { name: "day", type: "date" },
          { name: "amount", type: "decimal(20,4)" },
          { name: "msg", type: "string" },
        ],
        identifier: ["id"],
        partitionBy: ["region", "day"],
        sortBy: ["id"],
      },
    );
    const regions = ["eu", "us", "ap ü/x"];
    const model = new Map<bigint, { id: bigint; region: string; day: number | null; amount: string; msg: string }>();
    // updates move rows between partitions
    const row = (i: number, v: number) => ({
      id: BigInt(i),
      region: regions[(i + v) % 3],
      day: i % 4 === 0 ? null : 19000 + (i % 2),
      amount: `${(i * 7919 + v) % 100000}.${String(i % 10000).padStart(4, "0")}`,
      msg: `m${i}-v${v}`,
    });
    for (let v = 0; v < 4; v++) {
      const rows = Array.from({ length: 30 }, (_, k) => row(k * 2 + v * 5, v));
      const dels = v > 0 ? [BigInt(v), BigInt(v * 10)] : [];
      await t
        .newWrite()
        .upsert(rows)
        .delete(dels.map((id) => ({ id })))
        .commit();
      for (const r of rows) model.set(r.id, r);
      for (const d of dels) model.delete(d);
    }
    const dataDir = join(localPath(t.location), "data");
    expect(readdirSync(dataDir).sort()).toEqual(["region=ap%20%C3%BC%2Fx", "region=eu", "region=us"]);
    const got = chdbRows(t.location, "toString(id) AS id, region, toString(day) AS day, toString(amount) AS amount, msg").sort(
      (a, b) => Number(a.id) - Number(b.id),
    );
    const exp = [...model.values()]
      .sort((a, b) => Number(a.id - b.id))
      .map((r) => ({
        id: String(r.id),
        region: r.region,
        day: r.day === null ? null : new Date(r.day * 86400000).toISOString().slice(0, 10),
        amount: r.amount.replace(/\.?0+$/, "") || "0",
        msg: r.msg,
      }));
    expect(got).toEqual(exp);
    // filters that prune by partition and by column bounds still find every matching row
    const count = (where: string) => Number(chdbRows(t.location, "toString(count()) AS n", `WHERE ${where}`)[0].n);
    const n = (f: (r: (typeof exp)[number]) => boolean) => exp.filter(f).length;
    expect(count("region = 'eu'")).toBe(n((r) => r.region === "eu"));
    expect(count("day = '2022-01-08'")).toBe(n((r) => r.day === "2022-01-08"));
    expect(count("day IS NULL")).toBe(n((r) => r.day === null));
    expect(count("id = 40")).toBe(n((r) => r.id === "40"));
    expect(count("id > 60")).toBe(n((r) => Number(r.id) > 60));
    expect(count("msg = 'm12-v1'")).toBe(n((r) => r.msg === "m12-v1"));
    expect(count("amount > 50000")).toBe(n((r) => Number(r.amount) > 50000));
    expect(t.metadata["sort-orders"].find((o) => o["order-id"] === t.metadata["default-sort-order-id"])!.fields).toHaveLength(1);
    // restart rebuilds the index across partitions
    const again = await Table.load(cat, t.id);
    expect(again.indexedRows).toBe(model.size);
    await again
      .newWrite()
      .delete([...model.keys()].slice(0, 10).map((id) => ({ id })))
      .commit();
    expect(Number(chdbRows(t.location, "toString(count()) AS n")[0].n)).toBe(model.size - 10);
  });
});

describe("changelog table", () => {
  it("appends every change as a row (no primary key); append on a mirror table is refused", async () => {
    const t = await Table.create(
      cat,
      { namespace: ["db"], name: "orders_changelog" },
      {
        columns: [
          { name: "op", type: "string", required: true },
          { name: "lsn", type: "long", required: true },
          { name: "commit_time", type: "timestamptz", required: true },
          { name: "id", type: "long" },
          { name: "v", type: "string" },
        ],
      },
    );
    await t
      .newWrite()
      .append([
        { op: "I", lsn: 10n, commit_time: 1n, id: 1n, v: "a" },
        { op: "U", lsn: 11n, commit_time: 2n, id: 1n, v: "b" },
      ])
      .setSummary({ "floe.lsn.shard-0": "0/B" })
      .commit();
    await t
      .newWrite()
      .append([{ op: "D", lsn: 12n, commit_time: 3n, id: 1n, v: null }])
      .setSummary({ "floe.lsn.shard-0": "0/C" })
      .commit();
    expect(chdbRows(t.location, "op, toString(lsn) AS lsn, v").sort((a, b) => Number(a.lsn) - Number(b.lsn))).toEqual([
      { op: "I", lsn: "10", v: "a" },
      { op: "U", lsn: "11", v: "b" },
      { op: "D", lsn: "12", v: null },
    ]);
    expect(t.summaryProperty("floe.lsn.shard-0")).toBe("0/C");
    expect(() => t.newWrite().upsert([{ op: "I" }])).toThrow(/needs identifier fields/);
    const mirror = await Table.create(cat, { namespace: ["db"], name: "m" }, { columns: [{ name: "id", type: "int", required: true }], identifier: ["id"] });
    expect(() => mirror.newWrite().append([{ id: 1 }])).toThrow(/use upsert\(\)/);
    // a commit with no rows still records its summary (e.g. the LSN advanced past other tables' changes)
    await t.newWrite().setSummary({ "floe.lsn.shard-0": "0/D" }).commit();
    expect(t.summaryProperty("floe.lsn.shard-0")).toBe("0/D");
    expect(chdbRows(t.location, "toString(count()) AS n")).toEqual([{ n: "3" }]);
  });
});

describe("composite keys and the remaining types", () => {
  it("reads back timestamp (no zone), time (seconds in chdb), fixed, list<long>, decimal(38,10), float with a two-column key", async () => {
    const t = await Table.create(
      cat,
      { namespace: ["db"], name: "types" },
      {
        columns: [
          { name: "a", type: "int", required: true },
          { name: "b", type: "string", required: true },
          { name: "ts", type: "timestamp" },
          { name: "tm", type: "time" },
          { name: "fx", type: "fixed[3]" },
          { name: "li", type: { list: "long" } },
          { name: "big", type: "decimal(38,10)" },
          { name: "f", type: "float" },
        ],
        identifier: ["a", "b"],
      },
    );
    await t
      .newWrite()
      .upsert([
        {
          a: 1,
          b: "x",
          ts: -1n,
          tm: 86_399_999_999n,
          fx: new Uint8Array([1, 2, 3]),
          li: [1n, null, -5n],
          big: "-1234567890123456789012345678.0123456789",
          f: 1.5,
        },
        { a: 1, b: "y", li: [] },
        { a: 2, b: "x", ts: 1_700_000_000_123_456n, big: "0.0000000001" },
      ])
      .commit();
    await t
      .newWrite()
      .upsert([{ a: 1, b: "y", big: "1" }])
      .delete([{ a: 2, b: "x" }])
      .commit();
    const rows = chdbRows(
      t.location,
      "a, b, toString(toUnixTimestamp64Micro(ts)) AS ts, toString(tm) AS tm, lower(hex(fx)) AS fx, toJSONString(li) AS li, toString(big) AS big, toString(f) AS f",
    ).sort((x, y) => (x.b! < y.b! ? -1 : 1));
    expect(rows).toEqual([
      // chdb reads a TIME(MICROS) column in whole seconds (docs/engines.md); test/engines/ reads the micros in pyiceberg, DuckDB and polars.
      { a: 1, b: "x", ts: "-1", tm: "86399", fx: "010203", li: "[1,null,-5]", big: "-1234567890123456789012345678.0123456789", f: "1.5" },
      { a: 1, b: "y", ts: null, tm: null, fx: null, li: "[]", big: "1", f: null },
    ]);
    const again = await Table.load(cat, t.id);
    expect(again.indexedRows).toBe(2);
  });
});

describe("table maintenance", () => {
  it("merges manifests and expires snapshots; chdb still reads exactly the model (sequence numbers kept)", async () => {
    const id = { namespace: ["db"], name: "maint" };
    await Table.create(cat, id, {
      columns: [
        { name: "k", type: "int", required: true },
        { name: "v", type: "string" },
      ],
      identifier: ["k"],
    });
    const t = await Table.load(cat, id, { maxManifests: 3 });
    const model = new Map<number, string>();
    for (let c = 0; c < 10; c++) {
      const rows = Array.from({ length: 8 }, (_, i) => ({ k: (c * 3 + i) % 17, v: `c${c}i${i}` }));
      const dels = [{ k: (c * 5) % 17 }];
      await t.newWrite().upsert(rows).delete(dels).commit();
      for (const r of rows) model.set(r.k, r.v);
      for (const d of dels) model.delete(d.k);
    }
    const read = () => new Map(chdbRows(t.location, "k, v").map((r) => [Number(r.k), r.v as string]));
    expect(read()).toEqual(model);
    const io = t.catalog.fileIO({ "metadata-location": t.metadataLocation, metadata: t.metadata });
    const { readManifestList } = await import("../../../runtime/iceberg/manifests");
    const list = await readManifestList(io, t.currentSnapshot()!["manifest-list"]);
    expect(list.length).toBeLessThanOrEqual(3 + 2);
    const dataDir = join(localPath(t.location), "data");
    const before = readdirSync(dataDir).length;
    const r = await t.expireSnapshots({ keepSnapshots: 1 });
    expect(r.snapshots).toBe(9);
    expect(r.files).toBeGreaterThan(9); // at least the expired manifest lists
    expect(t.metadata.snapshots).toHaveLength(1);
    expect(readdirSync(dataDir).length).toBeLessThanOrEqual(before);
    expect(read()).toEqual(model);
    const again = await Table.load(cat, id);
    expect(again.indexedRows).toBe(model.size);
    await again
      .newWrite()
      .upsert([{ k: 100, v: "after" }])
      .commit();
    model.set(100, "after");
    expect(read()).toEqual(model);
  });
});

describe("partition transforms", () => {
  it("bucket, truncate, day and month partitions read back exactly and prune correctly", async () => {
    const t = await Table.create(
      cat,
      { namespace: ["db"], name: "transformed" },
      {
        columns: [
          { name: "id", type: "long", required: true },
          { name: "s", type: "string" },
          { name: "at", type: "timestamptz" },
          { name: "d", type: "date" },
        ],
        identifier: ["id"],
        partitionBy: ["bucket(4, id)", "truncate(2, s)", "day(at)", "month(d)"],
      },
    );
    const model = new Map<bigint, { id: bigint; s: string | null; at: bigint | null; d: number | null }>();
    for (let c = 0; c < 3; c++) {
      const rows = Array.from({ length: 40 }, (_, i) => {
        const id = BigInt((c * 17 + i * 5) % 60);
        return {
          id,
          s: i % 7 === 0 ? null : `s${(Number(id) * 13) % 50}-${c}`,
          at: i % 9 === 0 ? null : -86_400_000_000n * 3n + id * 43_200_000_000n,
          d: i % 5 === 0 ? null : 17000 + Number(id) * 11,
        };
      });
      const dels = [{ id: BigInt(c * 7) }];
      await t.newWrite().upsert(rows).delete(dels).commit();
      for (const r of rows) model.set(r.id, r);
      for (const d of dels) model.delete(d.id);
    }
    const got = chdbRows(t.location, "toString(id) AS id, s, toString(toUnixTimestamp64Micro(at)) AS at, toString(d) AS d").sort(
      (a, b) => Number(a.id) - Number(b.id),
    );
    const exp = [...model.values()]
      .sort((a, b) => Number(a.id - b.id))
      .map((r) => ({
        id: String(r.id),
        s: r.s,
        at: r.at === null ? null : String(r.at),
        d: r.d === null ? null : new Date(r.d * 86400000).toISOString().slice(0, 10),
      }));
    expect(got).toEqual(exp);
    const count = (where: string) => Number(chdbRows(t.location, "toString(count()) AS n", `WHERE ${where}`)[0].n);
    for (const k of [1n, 8n, 33n]) expect(count(`id = ${k}`)).toBe(model.has(k) ? 1 : 0);
    expect(count("at < '1970-01-01 00:00:00'")).toBe(exp.filter((r) => r.at !== null && BigInt(r.at) < 0n).length);
    expect(count("d >= '2017-01-01'")).toBe(exp.filter((r) => r.d !== null && r.d >= "2017-01-01").length);
    expect(readdirSync(join(localPath(t.location), "data")).sort()).toEqual(["id_bucket=0", "id_bucket=1", "id_bucket=2", "id_bucket=3"]);
    expect((await Table.load(cat, t.id)).indexedRows).toBe(model.size);
  });
});
