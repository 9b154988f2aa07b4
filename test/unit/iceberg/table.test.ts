/**
 * The table writer end to end on a local directory (MemoryCatalog), read back with an
 * independent minimal reader (hyparquet + the manifests): random batches of upserts and deletes
 * over several commits must always read back as the model, and a restarted writer's rebuilt
 * index must equal the incrementally maintained one.
 */
import fc from "fast-check";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { MemoryCatalog, Table, fileUri, type TableIdentifier } from "../../../runtime/iceberg";
import { readTable } from "../../helpers/iceberg-read";
import { readManifest, readManifestList } from "../../../runtime/iceberg/manifests";

process.env.FLOE_LOG_LEVEL = "error";
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "floe-iceberg-unit-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function newTable(): Promise<{ cat: MemoryCatalog; id: TableIdentifier; t: Table }> {
  const cat = new MemoryCatalog(fileUri(join(dir, `w${n}`)));
  await cat.createNamespace(["db"]);
  const id = { namespace: ["db"], name: `t${n++}` };
  const t = await Table.create(
    cat,
    id,
    {
      columns: [
        { name: "k", type: "int", required: true },
        { name: "s", type: "string", required: true },
        { name: "v", type: "long" },
      ],
      identifier: ["k", "s"],
      sortBy: ["s", "v"],
    },
    { rowsPerFile: 7 },
  );
  return { cat, id, t };
}

describe("Table on a local directory", () => {
  it("random batches of upserts and deletes always read back as the model (property)", async () => {
    const op = fc.oneof(
      fc.record({
        up: fc.constant(true),
        k: fc.integer({ min: 0, max: 12 }),
        s: fc.constantFrom("a", "é", ""),
        v: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      }),
      fc.record({ up: fc.constant(false), k: fc.integer({ min: 0, max: 12 }), s: fc.constantFrom("a", "é", "") }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { maxLength: 25 }), { minLength: 1, maxLength: 5 }), async (batches) => {
        const { cat, id, t } = await newTable();
        const model = new Map<string, bigint>();
        for (const b of batches) {
          const tx = t.newWrite();
          for (const o of b) {
            if (o.up) tx.upsert([{ k: o.k, s: o.s, v: (o as { v: bigint }).v }]);
            else tx.delete([{ k: o.k, s: o.s }]);
          }
          await tx.commit();
          for (const o of b) {
            const key = `${o.k}|${o.s}`;
            if (o.up) model.set(key, (o as { v: bigint }).v);
            else model.delete(key);
          }
        }
        const rows = await readTable(t, [1, 2, 3]);
        const got = new Map(rows.map((r) => [`${r[0]}|${r[1]}`, r[2] as bigint]));
        expect(rows.length).toBe(model.size); // no duplicates
        expect(got).toEqual(model);
        expect(t.indexedRows).toBe(model.size);
        const restarted = await Table.load(cat, id);
        expect(new Map(restarted.pkIndex!.entries())).toEqual(new Map(t.pkIndex!.entries()));
        // compaction keeps the same rows and the index in step
        const restartedSnapshots = restarted.metadata.snapshots.length;
        const compacted = await restarted.compact({ all: true });
        const after = await readTable(restarted, [1, 2, 3]);
        expect(new Map(after.map((r) => [`${r[0]}|${r[1]}`, r[2] as bigint]))).toEqual(model);
        expect(after.length).toBe(model.size);
        if (compacted) expect(restarted.currentSnapshot()!.summary["total-delete-files"]).toBe("0");
        const reloaded = await Table.load(cat, id);
        expect(new Map(reloaded.pkIndex!.entries())).toEqual(new Map(restarted.pkIndex!.entries()));
        expect(reloaded.metadata.snapshots.length).toBe(restartedSnapshots + (compacted ? 1 : 0));
        expect(t.metadata.snapshots.length).toBe(batches.filter((b) => b.length > 0).length); // an empty transaction commits nothing (t has not seen the compaction)
        const seqs = t.metadata.snapshots.map((s) => s["sequence-number"]);
        expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      }),
      { numRuns: 15 },
    );
  });

  it("records column stats and counts in manifests and totals in the snapshot summary", async () => {
    const { t } = await newTable();
    await t
      .newWrite()
      .upsert([
        { k: 5, s: "b", v: 10n },
        { k: -2, s: "a", v: null },
        { k: 9, s: "zz", v: -3n },
      ])
      .commit();
    await t
      .newWrite()
      .upsert([{ k: 5, s: "b", v: 11n }])
      .commit();
    const io = t.catalog.fileIO({ "metadata-location": t.metadataLocation, metadata: t.metadata });
    const snap = t.currentSnapshot()!;
    expect(snap.summary).toMatchObject({
      operation: "overwrite",
      "added-records": "1",
      "added-position-deletes": "1",
      "total-records": "4",
      "total-data-files": "2",
      "total-delete-files": "1",
      "total-position-deletes": "1",
    });
    const list = await readManifestList(io, snap["manifest-list"]);
    expect(list.map((m) => [m.content, Number(m.sequence_number)]).sort()).toEqual([
      [0, 1],
      [0, 2],
      [1, 2],
    ]);
    const first = (
      await readManifest(
        io,
        list.find((m) => m.content === 0 && m.sequence_number === 1n)!,
      )
    )[0];
    expect(first.dataSequenceNumber).toBe(1n);
    const f = first.file;
    const m = (kv: { key: number; value: unknown }[] | null) => new Map((kv ?? []).map((x) => [x.key, x.value]));
    expect(m(f.value_counts)).toEqual(
      new Map([
        [1, 3n],
        [2, 3n],
        [3, 3n],
      ]),
    );
    expect(m(f.null_value_counts)).toEqual(
      new Map([
        [1, 0n],
        [2, 0n],
        [3, 1n],
      ]),
    );
    expect((m(f.lower_bounds).get(1) as Buffer).readInt32LE()).toBe(-2);
    expect((m(f.upper_bounds).get(1) as Buffer).readInt32LE()).toBe(9);
    expect((m(f.lower_bounds).get(2) as Buffer).toString()).toBe("a");
    expect((m(f.upper_bounds).get(2) as Buffer).toString()).toBe("zz");
    expect((m(f.lower_bounds).get(3) as Buffer).readBigInt64LE()).toBe(-3n);
    const del = (
      await readManifest(
        io,
        list.find((x) => x.content === 1)!,
      )
    )[0].file;
    expect(del.content).toBe(1);
    expect((m(del.lower_bounds).get(2147483546) as Buffer).toString()).toBe(f.file_path);
  });

  it("splits large batches into files of rowsPerFile rows", async () => {
    const { t } = await newTable();
    await t
      .newWrite()
      .upsert(Array.from({ length: 20 }, (_, i) => ({ k: i, s: "x", v: BigInt(i) })))
      .commit();
    expect(t.currentSnapshot()!.summary["added-data-files"]).toBe("3");
    expect((await readTable(t, [1])).length).toBe(20);
  });

  it("schema changes commit a new schema id; ids of existing fields never change", async () => {
    const { t } = await newTable();
    await t.updateSchema().addColumn("tags", { list: "string" }).addColumn("n", "int").renameColumn("v", "value").commit();
    const s = t.schema();
    expect(s["schema-id"]).toBe(1);
    expect(s.fields.map((f) => [f.id, f.name])).toEqual([
      [1, "k"],
      [2, "s"],
      [3, "value"],
      [4, "tags"],
      [6, "n"],
    ]);
    expect(s.fields[3].type).toMatchObject({ type: "list", "element-id": 5 });
    expect(t.metadata["last-column-id"]).toBe(6);
    await t.updateSchema().updateColumnType("n", "long").commit();
    expect(t.schema().fields[4].type).toBe("long");
    await expect(t.updateSchema().updateColumnType("n", "int").commit()).rejects.toThrow(/cannot change column "n" from long to int/);
    await expect(t.updateSchema().dropColumn("k").commit()).rejects.toThrow(/part of the primary key/);
    await expect(t.updateSchema().addColumn("n", "int").commit()).rejects.toThrow(/already exists/);
    await expect(t.updateSchema().renameColumn("zz", "y").commit()).rejects.toThrow(/column "zz" does not exist/);
    expect(t.schema()["schema-id"]).toBe(2);
  });
});

describe("two writers on one table (rebase on conflict)", () => {
  const cols = {
    columns: [
      { name: "k", type: "int", required: true },
      { name: "v", type: "string" },
    ],
    identifier: ["k"],
  };

  async function pair() {
    const cat = new MemoryCatalog(fileUri(join(dir, `p${n}`)));
    await cat.createNamespace(["db"]);
    const id = { namespace: ["db"], name: `p${n++}` };
    await Table.create(cat, id, cols);
    return { cat, id, a: await Table.load(cat, id), b: await Table.load(cat, id) };
  }
  const read = async (t: Table) => new Map((await readTable(t, [1, 2])).map((r) => [r[0] as number, r[1] as string]));

  it("another writer's truncate is seen: the stale writer's upsert lands alone, no resurrected rows", async () => {
    const { a, b } = await pair();
    await a
      .newWrite()
      .upsert([
        { k: 1, v: "a" },
        { k: 2, v: "a" },
      ])
      .commit();
    await b.refresh();
    await a.truncate();
    const r = await b
      .newWrite()
      .upsert([{ k: 1, v: "b" }])
      .commit();
    expect(r.attempts).toBe(2);
    expect(await read(b)).toEqual(new Map([[1, "b"]]));
    expect(b.indexedRows).toBe(1);
  });

  it("another writer's delete and re-insert of a key is seen: exactly one row per key", async () => {
    const { a, b } = await pair();
    await a
      .newWrite()
      .upsert([
        { k: 1, v: "a1" },
        { k: 2, v: "a2" },
        { k: 3, v: "a3" },
      ])
      .commit();
    await b.refresh();
    await a
      .newWrite()
      .delete([{ k: 1 }])
      .upsert([{ k: 2, v: "a2'" }])
      .commit();
    await b
      .newWrite()
      .upsert([
        { k: 1, v: "b1" },
        { k: 2, v: "b2" },
      ])
      .delete([{ k: 3 }])
      .commit();
    expect(await read(b)).toEqual(
      new Map([
        [1, "b1"],
        [2, "b2"],
      ]),
    );
    // and the first writer catches up too
    await a.refresh();
    expect(new Map(a.pkIndex!.entries())).toEqual(new Map(b.pkIndex!.entries()));
  });

  it("gives up after maxCommitAttempts with a clear error and deletes all of its files", async () => {
    const { cat, id, a } = await pair();
    const t = await Table.load(cat, id, { maxCommitAttempts: 2, retryBaseMs: 1 });
    const real = cat.commitTable.bind(cat);
    let inner = false;
    cat.commitTable = async (...args) => {
      if (!inner) {
        inner = true; // writer a always wins the race first
        try {
          await a
            .newWrite()
            .upsert([{ k: Math.floor(Math.random() * 1e6), v: "x" }])
            .commit();
        } finally {
          inner = false;
        }
      }
      return real(...args);
    };
    const { readdirSync } = await import("fs");
    const { localPath } = await import("../../../runtime/iceberg/io");
    const dataFiles = () => readdirSync(join(localPath(t.location), "data")).length;
    try {
      await expect(
        t
          .newWrite()
          .upsert([{ k: -1, v: "lost" }])
          .commit(),
      ).rejects.toThrow(/gave up after 2 conflicting attempts/);
    } finally {
      cat.commitTable = real;
    }
    await a.refresh();
    expect(dataFiles()).toBe(2); // a's two commits only
    expect([...(await read(a)).values()]).not.toContain("lost");
  });
});

describe("row validation", () => {
  it("refuses a column that is not in the schema instead of dropping its value", async () => {
    const { t } = await newTable();
    await expect(
      t
        .newWrite()
        .upsert([{ k: 1, s: "a", v: 1n, extra: "lost?" }])
        .commit(),
    ).rejects.toThrow(/row 0 has column "extra", which is not in the table schema \(columns: k, s, v\)/);
    expect(t.currentSnapshot()).toBeUndefined();
  });
});

describe("a write racing a schema change", () => {
  it("lands after the schema change and reads back by field id", async () => {
    const { cat, id, t } = await newTable();
    const other = await Table.load(cat, id);
    const tx = t.newWrite().upsert([{ k: 1, s: "a", v: 5n }]);
    await other.updateSchema().renameColumn("v", "value").addColumn("extra", "string").commit();
    // written with the old schema, committed on top of the new one: no snapshot changed, so no
    // conflict; the snapshot records the schema its files were written with
    const r = await tx.commit();
    expect(r.attempts).toBe(1);
    expect(t.currentSnapshot()!["schema-id"]).toBe(0);
    expect(t.schema().fields.map((f) => f.name)).toEqual(["k", "s", "value", "extra"]);
    expect(await readTable(t, [1, 2, 3])).toEqual([[1, "a", 5n]]);
    await t
      .newWrite()
      .upsert([{ k: 1, s: "a", value: 6n, extra: "x" }])
      .commit();
    expect(await readTable(t, [1, 2, 3])).toEqual([[1, "a", 6n]]);
  });
});

describe("sort order", () => {
  it("writes rows in the table's sort order and records sort_order_id; keys stay aligned", async () => {
    const { cat, id, t } = await newTable();
    const rows = [
      { k: 3, s: "b", v: 2n },
      { k: 1, s: "a", v: null },
      { k: 2, s: "b", v: 1n },
      { k: 4, s: "a", v: -5n },
    ];
    await t.newWrite().upsert(rows).commit();
    const got = await readTable(t, [1, 2, 3]);
    expect(got).toEqual([
      [1, "a", null],
      [4, "a", -5n],
      [2, "b", 1n],
      [3, "b", 2n],
    ]); // s asc, then v asc nulls first
    const io = t.catalog.fileIO({ "metadata-location": t.metadataLocation, metadata: t.metadata });
    const entry = (await readManifest(io, (await readManifestList(io, t.currentSnapshot()!["manifest-list"]))[0]))[0];
    expect(entry.file.sort_order_id).toBe(1);
    expect(t.pkIndex!.get(JSON.stringify(["2", "b"]))).toEqual({ path: entry.file.file_path, pos: 2 });
    expect(new Map((await Table.load(cat, id)).pkIndex!.entries())).toEqual(new Map(t.pkIndex!.entries()));
  });
});

describe("metadata files", () => {
  it("keeps write.metadata.previous-versions-max old metadata files and deletes older ones", async () => {
    const cat = new MemoryCatalog(fileUri(join(dir, `meta${n}`)));
    await cat.createNamespace(["db"]);
    const id = { namespace: ["db"], name: `m${n++}` };
    const t = await Table.create(cat, id, {
      columns: [{ name: "k", type: "int", required: true }],
      identifier: ["k"],
      properties: { "write.metadata.previous-versions-max": "3" },
    });
    for (let i = 0; i < 8; i++)
      await t
        .newWrite()
        .upsert([{ k: i }])
        .commit();
    const { readdirSync } = await import("fs");
    const { localPath } = await import("../../../runtime/iceberg/io");
    const json = readdirSync(join(localPath(t.location), "metadata")).filter((f) => f.endsWith(".metadata.json"));
    expect(t.metadata["metadata-log"]).toHaveLength(3);
    expect(json).toHaveLength(4); // current + 3 in the log
    expect((await Table.load(cat, id)).indexedRows).toBe(8);
  });
});

describe("metrics", () => {
  it("counts commit attempts by outcome and files written", async () => {
    const { registry } = await import("../../../runtime/core/metrics");
    const { cat, id, t } = await newTable();
    const other = await Table.load(cat, id);
    await other
      .newWrite()
      .upsert([{ k: 1, s: "a", v: 1n }])
      .commit();
    await t
      .newWrite()
      .upsert([{ k: 1, s: "a", v: 2n }])
      .commit(); // conflicts once, then lands
    const text = await registry.metrics();
    const table = `db.${id.name}`;
    expect(text).toContain(`floe_iceberg_commit_attempts_total{table="${table}",op="write",outcome="conflict"} 1`);
    expect(text).toContain(`floe_iceberg_commit_attempts_total{table="${table}",op="write",outcome="committed"} 2`); // other and t
    expect(text).toContain(`floe_iceberg_files_written_total{table="${table}",content="position-deletes"} 1`);
    expect(text).toContain(`floe_iceberg_pk_index_rows{table="${table}"} 1`);
  });
});

describe("orphan files", () => {
  it("deletes only unreferenced files older than the cutoff; the table reads the same", async () => {
    const { cat, id, t } = await newTable();
    await t
      .newWrite()
      .upsert([
        { k: 1, s: "a", v: 1n },
        { k: 2, s: "b", v: 2n },
      ])
      .commit();
    await t
      .newWrite()
      .upsert([{ k: 1, s: "a", v: 3n }])
      .commit();
    const { writeFileSync, existsSync } = await import("fs");
    const { localPath } = await import("../../../runtime/iceberg/io");
    const orphan = join(localPath(t.location), "data", "crashed-writer.parquet");
    writeFileSync(orphan, "left over");
    const before = await readTable(t, [1, 2, 3]);
    expect(await t.removeOrphanFiles({ olderThanMs: Date.now() - 60_000 })).toEqual([]); // too young
    const removed = await t.removeOrphanFiles({ olderThanMs: Date.now() + 1000 });
    expect(removed).toEqual([`file://${orphan}`]);
    expect(existsSync(orphan)).toBe(false);
    expect(await readTable(t, [1, 2, 3])).toEqual(before);
    expect((await Table.load(cat, id)).indexedRows).toBe(2);
  });
});
