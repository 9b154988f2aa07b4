/**
 * The delete-file seam (runtime/iceberg/deletes.ts), chosen by the table's format version: a v2
 * table's updates become Parquet position delete files, a v3 table's become deletion vectors in
 * Puffin files. Either way a data file has at most one live delete file: a commit that deletes
 * more of its rows writes one holding the earlier positions too and removes the earlier one in the
 * same snapshot. Deletion vectors use the spec's framing (length, magic, CRC) and the portable
 * Roaring format: checked against bitmaps serialized by pyroaring 1.2.0 (CRoaring), an
 * independent implementation, including a run container.
 */
import { createHash } from "crypto";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { MemoryCatalog, Table, fileUri } from "../../../runtime/iceberg";
import { CONTENT_POSITION_DELETES, STATUS_DELETED, readManifest, readManifestList, type LiveEntry } from "../../../runtime/iceberg/manifests";
import { crc32, deserializePositions, dvBlob, readDvBlob, readPuffinFooter, serializePositions, writeDvPuffin } from "../../../runtime/iceberg/puffin";
import { readTable } from "../../helpers/iceberg-read";

process.env.FLOE_LOG_LEVEL = "error";
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "floe-iceberg-deletes-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const columns = [
  { name: "id", type: "long" as const, required: true },
  { name: "v", type: "string" as const },
];
let n = 0;

async function newTable(formatVersion: 2 | 3) {
  const cat = new MemoryCatalog(fileUri(join(dir, `w${n}`)));
  await cat.createNamespace(["db"]);
  const t = await Table.create(cat, { namespace: ["db"], name: `t${n++}` }, { columns, identifier: ["id"], formatVersion });
  return { cat, t };
}

/** Every entry of the current snapshot (DELETED ones too). */
async function entries(t: Table): Promise<LiveEntry[]> {
  const io = t.catalog.fileIO({ "metadata-location": t.metadataLocation, metadata: t.metadata });
  return (await Promise.all((await readManifestList(io, t.currentSnapshot()!["manifest-list"])).map((m) => readManifest(io, m)))).flat();
}

const rowsOf = async (t: Table) => new Map((await readTable(t, [1, 2])).map((r) => [r[0] as bigint, Buffer.from(r[1] as Uint8Array).toString()]));

describe.each([2, 3] as const)("format version %i", (version) => {
  it("keeps one delete file per data file: the new one holds the earlier deletes, the earlier one is removed in the same snapshot", async () => {
    const { cat, t } = await newTable(version);
    const rows = Array.from({ length: 100 }, (_, i) => ({ id: BigInt(i), v: `v${i}` }));
    await t.newWrite().upsert(rows).commit();
    const model = new Map(rows.map((r) => [r.id, r.v]));
    const first = await t
      .newWrite()
      .upsert([{ id: 1n, v: "a" }])
      .delete([{ id: 2n }])
      .commit();
    expect(first.deletedRows).toBe(2);
    model.set(1n, "a");
    model.delete(2n);
    const before = (await entries(t)).filter((e) => e.file.content === CONTENT_POSITION_DELETES && e.status !== STATUS_DELETED);
    expect(before).toHaveLength(1);
    expect(before[0].file.file_format).toBe(version === 3 ? "PUFFIN" : "PARQUET");
    expect(before[0].file.record_count).toBe(2n);
    await t
      .newWrite()
      .delete([{ id: 3n }, { id: 4n }])
      .commit();
    model.delete(3n);
    model.delete(4n);
    const after = await entries(t);
    const live = after.filter((e) => e.file.content === CONTENT_POSITION_DELETES && e.status !== STATUS_DELETED);
    const original = rows.length; // the first data file still holds all four deleted rows
    expect(live.filter((e) => e.file.referenced_data_file === before[0].file.referenced_data_file)).toHaveLength(1);
    expect(live.find((e) => e.file.referenced_data_file === before[0].file.referenced_data_file)!.file.record_count).toBe(4n);
    const removed = after.filter((e) => e.status === STATUS_DELETED);
    expect(removed.map((e) => [e.file.file_path, e.snapshotId])).toEqual([[before[0].file.file_path, BigInt(t.currentSnapshot()!["snapshot-id"])]]);
    const s = t.currentSnapshot()!.summary;
    expect(s["total-delete-files"]).toBe(String(live.length));
    expect(s["total-position-deletes"]).toBe(String(live.reduce((a, e) => a + Number(e.file.record_count), 0)));
    expect(s["removed-delete-files"]).toBe("1");
    if (version === 3) expect([s["added-dvs"], s["removed-dvs"]]).toEqual(["1", "1"]);
    expect(await rowsOf(t)).toEqual(model);
    expect(model.size).toBe(original - 3);
    // a restart rebuilds the same index from the data files and the delete files
    const again = await Table.load(cat, t.id);
    expect(new Map(again.pkIndex!.entries())).toEqual(new Map(t.pkIndex!.entries()));
  });
});

describe("deletion vectors (v3)", () => {
  it("reads bitmaps serialized by pyroaring (array and run containers, a 64-bit key)", () => {
    expect(deserializePositions(Buffer.from("AQAAAAAAAAAAAAAAOjAAAAIAAAAAAAMAAQAAABgAAAAgAAAAAAABAAIABQBwEQ==", "base64"))).toEqual([0, 1, 2, 5, 70000]);
    const run = deserializePositions(Buffer.from("AgAAAAAAAAAAAAAAOzAAAAEAAIcTAQAKAIcTAQAAADowAAABAAAAAAAAABAAAAAHAA==", "base64"));
    expect(run).toEqual([...Array.from({ length: 5000 }, (_, i) => 10 + i), 2 ** 32 + 7]);
  });

  it("writes the same bytes as pyroaring for array containers, and round-trips bitmap containers and 64-bit positions", () => {
    expect(serializePositions([70000, 5, 2, 1, 0, 2]).toString("base64")).toBe("AQAAAAAAAAAAAAAAOjAAAAIAAAAAAAMAAQAAABgAAAAgAAAAAAABAAIABQBwEQ==");
    const many = Array.from({ length: 70000 }, (_, i) => i * 3).concat([2 ** 33 + 1, 2 ** 40]);
    expect(deserializePositions(serializePositions(many))).toEqual(many);
  });

  it("writes bitmap containers byte for byte as pyroaring does (two 64-bit keys, more than 4096 positions in each container)", () => {
    // pyroaring 1.2.0: BitMap64([i * 3 for i in range(5000)] + [2**32 + i * 5 for i in range(4500)]).serialize()
    // is 16432 bytes with this SHA-256 (the bytes themselves are too long to keep here)
    const positions = [...Array.from({ length: 5000 }, (_, i) => i * 3), ...Array.from({ length: 4500 }, (_, i) => 2 ** 32 + i * 5)];
    const bytes = serializePositions(positions);
    expect(bytes.length).toBe(16432);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe("38cd5b28d96ac1da786bf513196cb234c2e984e001676a2a3493d9677ae8c788");
  });

  it("frames a vector with its length, magic and CRC-32, and refuses a blob with any of them wrong", () => {
    expect(crc32(Buffer.from("123456789"))).toBe(0xcbf43926); // the CRC-32 check value
    const blob = dvBlob([3, 1, 2]);
    expect(blob.readUInt32BE(0)).toBe(blob.length - 8);
    expect(blob.subarray(4, 8).toString("hex")).toBe("d1d33964");
    expect(readDvBlob(blob, "x")).toEqual([1, 2, 3]);
    const flip = (at: number) => {
      const b = Buffer.from(blob);
      b[at] ^= 1;
      return b;
    };
    expect(() => readDvBlob(flip(0), "x")).toThrow(/length/);
    expect(() => readDvBlob(flip(5), "x")).toThrow(/magic/);
    expect(() => readDvBlob(flip(12), "x")).toThrow(/CRC/);
  });

  it("writes a Puffin file whose footer locates each blob with its referenced data file and cardinality", () => {
    const { bytes, blobs } = writeDvPuffin([
      { referencedDataFile: "s3://b/a.parquet", positions: [1, 9] },
      { referencedDataFile: "s3://b/b.parquet", positions: [4] },
    ]);
    expect(bytes.subarray(0, 4).toString()).toBe("PFA1");
    const footer = readPuffinFooter(bytes, "p");
    expect(footer.blobs.map((b) => [b.type, b.offset, b.length, b.properties])).toEqual(
      blobs.map((b) => ["deletion-vector-v1", b.offset, b.length, { "referenced-data-file": b.referencedDataFile, cardinality: String(b.cardinality) }]),
    );
    expect(footer.blobs.every((b) => b.fields[0] === 2147483645 && (b as unknown as Record<string, number>)["snapshot-id"] === -1)).toBe(true);
    const b = blobs.find((x) => x.referencedDataFile === "s3://b/b.parquet")!;
    expect(readDvBlob(bytes.subarray(b.offset, b.offset + b.length), "b")).toEqual([4]);
  });

  it("lays blobs out shortest first: after each blob but the last, the file holds more bytes (up to its last 12) than the blob (DuckDB 1.5.5's cache)", () => {
    // DuckDB 1.5.5 widens a blob's read up to the footer's last 12 bytes when that gap is no longer
    // than the blob, and then reads later blobs from the widened range's start (puffin.ts head)
    const sizes = [9000, 1, 300, 1, 5000, 20];
    const { bytes, blobs } = writeDvPuffin(
      sizes.map((n, i) => ({ referencedDataFile: `s3://b/${"fedcba"[i]}.parquet`, positions: Array.from({ length: n }, (_, j) => j * 7) })),
    );
    expect(blobs.map((x) => x.cardinality)).toEqual([1, 1, 20, 300, 5000, 9000]);
    expect(blobs.slice(0, 2).map((x) => x.referencedDataFile)).toEqual(["s3://b/c.parquet", "s3://b/e.parquet"]); // ties by data file
    blobs.forEach((x, i) => {
      if (i > 0) expect(x.offset).toBe(blobs[i - 1].offset + blobs[i - 1].length);
      const gap = bytes.length - 12 - (x.offset + x.length);
      if (i < blobs.length - 1) expect(gap).toBeGreaterThan(x.length);
      expect(readDvBlob(bytes.subarray(x.offset, x.offset + x.length), x.referencedDataFile)).toHaveLength(x.cardinality);
    });
  });

  it("a data file's vector survives many commits: one live vector each, equal to every position deleted", async () => {
    const { cat, t } = await newTable(3);
    const rows = Array.from({ length: 300 }, (_, i) => ({ id: BigInt(i), v: `v${i}` }));
    await t.newWrite().upsert(rows).commit();
    const model = new Map(rows.map((r) => [r.id, r.v]));
    for (let c = 0; c < 12; c++) {
      const tx = t.newWrite();
      for (let i = 0; i < 9; i++) {
        const k = BigInt(Math.floor(Math.random() * 320));
        tx.upsert([{ id: k, v: `c${c}` }]);
        model.set(k, `c${c}`);
      }
      await tx.commit();
      const live = (await entries(t)).filter((e) => e.file.content === CONTENT_POSITION_DELETES && e.status !== STATUS_DELETED);
      const targets = live.map((e) => e.file.referenced_data_file);
      expect(new Set(targets).size).toBe(targets.length);
      expect(await rowsOf(t)).toEqual(model);
    }
    const again = await Table.load(cat, t.id);
    expect(new Map(again.pkIndex!.entries())).toEqual(new Map(t.pkIndex!.entries()));
  });
});
