/**
 * Table maintenance on a local directory (MemoryCatalog), read back with the independent minimal
 * reader of test/helpers/iceberg-read.ts: under a random update workload with a maintenance pass
 * after every commit the table always reads as the model, the primary-key index stays in step,
 * files and snapshots stay bounded, and expiry deletes exactly what nothing references any more
 * (an orphan scan afterwards finds nothing). Expiry reads only what it removes and keeps the
 * snapshot that carries the writer's state; a compaction that loses the race to a writer never
 * drops that writer's deletes.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import {
  MemoryCatalog,
  Table,
  fileUri,
  type Catalog,
  type CreateTableRequest,
  type TableIdentifier,
  type TableRequirement,
  type TableUpdate,
} from "../../../runtime/iceberg";
import { localPath } from "../../../runtime/iceberg/io";
import { CONTENT_DATA, readManifest, readManifestList } from "../../../runtime/iceberg/manifests";
import { currentEntries, readTable } from "../../helpers/iceberg-read";

process.env.FLOE_LOG_LEVEL = "error";
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "floe-iceberg-maint-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const columns = [
  { name: "id", type: "long", required: true },
  { name: "v", type: "string" },
];
let n = 0;

async function newTable(
  catalog?: (inner: MemoryCatalog) => Catalog,
  formatVersion: 2 | 3 = 2,
  maxManifests?: number,
): Promise<{ cat: Catalog; id: TableIdentifier; t: Table }> {
  const inner = new MemoryCatalog(fileUri(join(dir, `w${n}`)));
  const cat = catalog ? catalog(inner) : inner;
  await cat.createNamespace(["db"]);
  const id = { namespace: ["db"], name: `t${n++}` };
  const t = await Table.create(cat, id, { columns, identifier: ["id"], formatVersion }, { maxManifests });
  return { cat, id, t };
}

const rowsOf = async (t: Table) => new Map((await readTable(t, [1, 2])).map((r) => [r[0] as bigint, Buffer.from(r[1] as Uint8Array).toString()]));

/** Every file under the table location. */
function filesUnder(location: string): string[] {
  const root = localPath(location);
  return readdirSync(root, { recursive: true, encoding: "utf8" })
    .filter((f) => statSync(join(root, f)).isFile())
    .map((f) => `file://${join(root, f)}`);
}

async function liveFiles(t: Table): Promise<{ data: string[]; deletes: Map<string, number> }> {
  const io = t.catalog.fileIO({ "metadata-location": t.metadataLocation, metadata: t.metadata });
  const entries = await currentEntries(t);
  const deletes = new Map<string, number>();
  const { readPositionDeletes } = await import("../../../runtime/iceberg/parquet");
  for (const e of entries.filter((x) => x.file.content !== CONTENT_DATA)) {
    const targets = e.file.referenced_data_file
      ? [e.file.referenced_data_file]
      : new Set((await readPositionDeletes(await io.read(e.file.file_path), "d")).map((d) => d.path));
    for (const p of targets) deletes.set(p, (deletes.get(p) ?? 0) + 1);
  }
  return { data: entries.filter((e) => e.file.content === CONTENT_DATA).map((e) => e.file.file_path), deletes };
}

describe("maintenance", () => {
  it.each([2, 3] as const)("keeps a randomly updated v%i table right, its index in step, and its files and snapshots bounded", async (version) => {
    const { cat, id, t } = await newTable(undefined, version);
    const model = new Map<bigint, string>();
    const all = Array.from({ length: 3000 }, (_, i) => ({ id: BigInt(i), v: `v${i}` }));
    await t.newWrite().upsert(all).commit();
    for (const r of all) model.set(r.id, r.v);
    const policy = { keepSnapshots: 5, tierBaseBytes: 1024, minInputFiles: 3, deleteRatio: 0.1 };
    let compactions = 0;
    let maxData = 0;
    for (let c = 0; c < 80; c++) {
      const tx = t.newWrite();
      for (let i = 0; i < 15; i++) {
        const k = BigInt(Math.floor(Math.random() * 3050));
        if (Math.random() < 0.15) {
          tx.delete([{ id: k }]);
          model.delete(k);
        } else {
          tx.upsert([{ id: k, v: `c${c}-${i}` }]);
          model.set(k, `c${c}-${i}`);
        }
      }
      await tx.setSummary({ "floe.lsn.pg": String(c) }).commit();
      const report = await t.maintain(policy);
      if (report.compaction) compactions++;
      expect(await rowsOf(t)).toEqual(model);
      expect(t.indexedRows).toBe(model.size);
      const live = await liveFiles(t);
      maxData = Math.max(maxData, live.data.length);
      for (const count of live.deletes.values()) expect(count).toBeLessThanOrEqual(1); // one delete file / vector per data file
      expect(t.metadata.snapshots.length).toBeLessThanOrEqual(5);
    }
    expect(compactions).toBeGreaterThan(5);
    expect(maxData).toBeLessThanOrEqual(12);
    // a restart rebuilds the same index from the compacted files
    const again = await Table.load(cat, id);
    expect(new Map(again.pkIndex!.entries())).toEqual(new Map(t.pkIndex!.entries()));
    // expiry left nothing behind once the grace of the files it deferred is over: every file under the location is referenced
    expect(t.pendingDeletes.files).toBeGreaterThan(0);
    await t.deleteDueFiles(Infinity);
    expect(await t.removeOrphanFiles({ olderThanMs: Date.now() + 60_000 })).toEqual([]);
    // and every file the kept snapshots reference exists
    const present = new Set(filesUnder(t.location));
    for (const s of t.metadata.snapshots) {
      const io = cat.fileIO({ "metadata-location": t.metadataLocation, metadata: t.metadata });
      expect(present.has(s["manifest-list"])).toBe(true);
      for (const m of await readManifestList(io, s["manifest-list"])) {
        expect(present.has(m.manifest_path)).toBe(true);
        for (const e of await readManifest(io, m)) if (e.status !== 2) expect(present.has(e.file.file_path)).toBe(true);
      }
    }
  });

  it.each([2, 3] as const)(
    "v%i: expiry deletes the delete files a commit replaced when that commit also merged its manifests (the CDC writer's commits merge past maxManifests)",
    async (version) => {
      // each commit replaces the delete file / vector of the data files it touches (DELETED entries)
      // and merges its manifests past 2: the merge must keep this commit's DELETED entries, or
      // expiry, which finds what to delete from them, leaves the replaced files behind for ever
      const { t } = await newTable(undefined, version, 2);
      await t
        .newWrite()
        .upsert(Array.from({ length: 500 }, (_, i) => ({ id: BigInt(i), v: `v${i}` })))
        .commit();
      for (let c = 0; c < 30; c++) {
        await t
          .newWrite()
          .upsert([{ id: BigInt((c * 7) % 500), v: `c${c}` }])
          .setSummary({ "floe.lsn.pg": String(c) })
          .commit();
        if (c % 5 === 4) await t.expireSnapshots({ keepSnapshots: 2 });
      }
      await t.expireSnapshots({ keepSnapshots: 1 });
      expect(await t.removeOrphanFiles({ olderThanMs: Date.now() + 60_000 })).toEqual([]);
    },
  );

  it("v3: a compaction keeps each moved row's _row_id and _last_updated_sequence_number", async () => {
    const { cat, t } = await newTable(undefined, 3);
    await t
      .newWrite()
      .upsert(Array.from({ length: 50 }, (_, i) => ({ id: BigInt(i), v: `a${i}` })))
      .commit();
    await t
      .newWrite()
      .upsert(Array.from({ length: 50 }, (_, i) => ({ id: BigInt(50 + i), v: `b${i}` })))
      .commit();
    await t
      .newWrite()
      .upsert([{ id: 7n, v: "changed" }])
      .delete([{ id: 60n }])
      .commit();
    // lineage before: _row_id = the file's first_row_id + position, sequence = the file's data sequence number
    const io = cat.fileIO({ "metadata-location": t.metadataLocation, metadata: t.metadata });
    const lineage = async () => {
      const out = new Map<bigint, [bigint, bigint]>();
      const all = await currentEntries(t);
      const { readColumnsByIdOptional } = await import("../../../runtime/iceberg/parquet");
      const live = new Set((await readTable(t, [1])).map((r) => r[0] as bigint));
      for (const [key, loc] of t.pkIndex!.entries()) {
        const e = all.find((x) => x.file.file_path === loc.path)!;
        const [ids, rowIds, seqs] = await readColumnsByIdOptional(await io.read(e.file.file_path), [1, 2147483540, 2147483539], "d");
        expect(ids![loc.pos]).toBe(BigInt(key));
        expect(live.has(BigInt(key))).toBe(true);
        out.set(BigInt(key), [
          rowIds ? (rowIds[loc.pos] as bigint) : BigInt(e.file.first_row_id!) + BigInt(loc.pos),
          seqs ? (seqs[loc.pos] as bigint) : e.dataSequenceNumber,
        ]);
      }
      return out;
    };
    const before = await lineage();
    expect(before.size).toBe(99);
    expect(before.get(7n)![1]).toBe(3n); // the update gave row 7 a new row (sequence 3)
    const r = await t.compact({ all: true });
    expect(r!.addedDataFiles).toBe(1);
    expect(t.currentSnapshot()!.summary["total-delete-files"]).toBe("0");
    expect(await lineage()).toEqual(before);
  });

  it("expiry reads only what it removes: a long history costs no more to expire a little of", async () => {
    const { t } = await newTable();
    for (let c = 0; c < 40; c++)
      await t
        .newWrite()
        .upsert([{ id: BigInt(c % 7), v: `x${c}` }])
        .commit();
    const first = await t.expireSnapshots({ keepSnapshots: 30 });
    expect(first.snapshots).toBe(10);
    for (let c = 0; c < 3; c++)
      await t
        .newWrite()
        .upsert([{ id: BigInt(c), v: `y${c}` }])
        .commit();
    const second = await t.expireSnapshots({ keepSnapshots: 30 });
    expect(second.snapshots).toBe(3);
    // 3 expired manifest lists + the oldest kept one, and the manifests those add with DELETED entries (none here)
    expect(second.filesRead).toBeLessThanOrEqual(3 + 1 + 4);
    expect(await t.removeOrphanFiles({ olderThanMs: Date.now() + 60_000 })).toEqual([]);
  });

  it.each([2, 3] as const)(
    "v%i: a query planned before an expiry reads its files for expiredFileGraceMs; the expired manifests go at once, the rest at the first pass after the grace",
    async (version) => {
      const { t } = await newTable(undefined, version);
      await t
        .newWrite()
        .upsert(Array.from({ length: 200 }, (_, i) => ({ id: BigInt(i), v: `a${i}` })))
        .commit();
      for (let c = 0; c < 6; c++)
        await t
          .newWrite()
          .upsert([{ id: BigInt(c * 7), v: `b${c}` }])
          .commit();
      // the files a query planned now reads: the current snapshot's data and delete files
      const plannedSnapshot = t.currentSnapshot()!;
      const plannedFiles = (await currentEntries(t)).map((e) => e.file.file_path);
      expect(Number(plannedSnapshot.summary["total-delete-files"])).toBeGreaterThan(0);
      expect(plannedFiles.length).toBe(Number(plannedSnapshot.summary["total-data-files"]) + Number(plannedSnapshot.summary["total-delete-files"]));
      const policy = { keepSnapshots: 1, convergeRatio: 0.01, expiredFileGraceMs: 60_000 };
      const t0 = Date.now();
      const first = await t.maintain(policy, { now: t0 });
      expect(first.compaction).toBeDefined(); // the planned files are no longer in the current snapshot
      expect(first.expiry!.snapshots).toBeGreaterThan(0);
      expect(first.expiry!.deferred).toBeGreaterThan(0);
      const present = () => new Set(filesUnder(t.location));
      // the expired snapshot's manifest list is gone; every file the planned query reads is still there
      expect(present().has(plannedSnapshot["manifest-list"])).toBe(false);
      for (const f of plannedFiles) expect(present().has(f)).toBe(true);
      expect(t.pendingDeletes).toEqual({ files: first.expiry!.deferred, lastDueMs: t0 + 60_000 });
      // a pass before the grace is over deletes none of them
      await t.maintain(policy, { now: t0 + 59_000 });
      for (const f of plannedFiles) expect(present().has(f)).toBe(true);
      // the first pass after it deletes them, and leaves nothing unreferenced
      const after = await t.maintain(policy, { now: t0 + 60_000 });
      expect(after.expiry!.files).toBeGreaterThanOrEqual(first.expiry!.deferred);
      for (const f of plannedFiles) expect(present().has(f)).toBe(false);
      expect(t.pendingDeletes.files).toBe(0);
      expect(await t.removeOrphanFiles({ olderThanMs: Date.now() + 60_000 })).toEqual([]);
      expect([...(await rowsOf(t)).keys()].length).toBe(200);
    },
  );

  it("with no grace (Table.expireSnapshots' default, as Iceberg's ExpireSnapshots) the files of expired snapshots go at once", async () => {
    const { t } = await newTable();
    await t
      .newWrite()
      .upsert([{ id: 1n, v: "a" }])
      .commit();
    const old = (await liveFiles(t)).data;
    await t
      .newWrite()
      .upsert([{ id: 1n, v: "b" }])
      .commit();
    await t.compact({ policy: { convergeRatio: 0.01 } });
    const r = await t.expireSnapshots({ keepSnapshots: 1 });
    expect(r.deferred).toBe(0);
    for (const f of old) expect(new Set(filesUnder(t.location)).has(f)).toBe(false);
    expect(t.pendingDeletes.files).toBe(0);
  });

  it("keeps the snapshot carrying floe state when another engine wrote the newer ones, and the next commit carries it again", async () => {
    const { cat, id, t } = await newTable();
    await t
      .newWrite()
      .upsert([{ id: 1n, v: "a" }])
      .setSummary({ "floe.lsn.pg": "100" })
      .commit();
    await t
      .newWrite()
      .upsert([{ id: 2n, v: "b" }])
      .setSummary({ "floe.lsn.pg": "200" })
      .commit();
    // another engine's maintenance: same files, a "replace" snapshot without floe's keys
    for (let i = 0; i < 3; i++) {
      const m = (await cat.loadTable(id)).metadata;
      const parent = m.snapshots.find((s) => BigInt(s["snapshot-id"]) === BigInt(m["current-snapshot-id"]!))!;
      const snap = {
        "snapshot-id": BigInt(1000 + i),
        "parent-snapshot-id": BigInt(parent["snapshot-id"]),
        "sequence-number": parent["sequence-number"] + 1,
        "timestamp-ms": Date.now(),
        "manifest-list": parent["manifest-list"],
        summary: { operation: "replace" as const, "total-data-files": parent.summary["total-data-files"] },
      };
      await cat.commitTable(
        id,
        [],
        [
          { action: "add-snapshot", snapshot: snap },
          { action: "set-snapshot-ref", "ref-name": "main", "snapshot-id": snap["snapshot-id"], type: "branch" },
        ],
      );
    }
    const loaded = await Table.load(cat, id);
    expect(loaded.currentSnapshot()!.summary["floe.lsn.pg"]).toBeUndefined();
    expect(loaded.summaryProperty("floe.lsn.pg")).toBe("200");
    const r = await loaded.expireSnapshots({ keepSnapshots: 1 });
    expect(r.snapshots).toBe(1); // the first one; the one with lsn 200 and the three after it stay
    expect(loaded.summaryProperty("floe.lsn.pg")).toBe("200");
    await loaded
      .newWrite()
      .upsert([{ id: 3n, v: "c" }])
      .commit();
    expect(loaded.currentSnapshot()!.summary["floe.lsn.pg"]).toBe("200");
    expect((await loaded.expireSnapshots({ keepSnapshots: 1 })).snapshots).toBe(4);
  });

  it("a compaction that loses the race to a writer plans again and keeps the writer's deletes", async () => {
    let interfere: (() => Promise<void>) | undefined;
    class Racing implements Catalog {
      readonly name = "racing";
      readonly writesMetadataFiles = true;
      constructor(readonly inner: MemoryCatalog) {}
      createNamespace = (ns: string[]) => this.inner.createNamespace(ns);
      namespaceExists = (ns: string[]) => this.inner.namespaceExists(ns);
      listNamespaces = () => this.inner.listNamespaces();
      dropNamespace = (ns: string[]) => this.inner.dropNamespace(ns);
      listTables = (ns: string[]) => this.inner.listTables(ns);
      tableExists = (i: TableIdentifier) => this.inner.tableExists(i);
      createTable = (i: TableIdentifier, r: CreateTableRequest) => this.inner.createTable(i, r);
      loadTable = (i: TableIdentifier) => this.inner.loadTable(i);
      dropTable = (i: TableIdentifier) => this.inner.dropTable(i);
      fileIO = () => this.inner.fileIO();
      commitTable = async (i: TableIdentifier, req: TableRequirement[], up: TableUpdate[]) => {
        const snap = up.find((u) => u.action === "add-snapshot") as { snapshot: { summary: { operation: string } } } | undefined;
        if (snap?.snapshot.summary.operation === "replace" && interfere) {
          const f = interfere;
          interfere = undefined;
          await f(); // the writer commits between the compaction's planning and its commit
        }
        return this.inner.commitTable(i, req, up);
      };
    }
    const { cat, id, t } = await newTable((inner) => new Racing(inner));
    const rows = Array.from({ length: 40 }, (_, i) => ({ id: BigInt(i), v: `v${i}` }));
    await t.newWrite().upsert(rows).commit();
    await t
      .newWrite()
      .delete([{ id: 0n }, { id: 1n }])
      .commit();
    const writer = await Table.load(cat, id);
    interfere = async () => {
      await writer
        .newWrite()
        .delete([{ id: 5n }])
        .upsert([{ id: 6n, v: "new" }])
        .commit();
    };
    const r = await t.compact({ deletes: true });
    expect(interfere).toBeUndefined(); // the race happened
    expect(r!.attempts).toBe(2);
    const expected = new Map(rows.filter((x) => ![0n, 1n, 5n].includes(x.id)).map((x) => [x.id, x.v]));
    expected.set(6n, "new");
    expect(await rowsOf(t)).toEqual(expected);
    expect(t.indexedRows).toBe(expected.size);
    await writer.refresh();
    expect(new Map(writer.pkIndex!.entries())).toEqual(new Map(t.pkIndex!.entries()));
  });
});
