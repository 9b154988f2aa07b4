/**
 * Format version 3 metadata: a table created with formatVersion 3 keeps next-row-id, every
 * snapshot gets first-row-id / added-rows, new data manifests get a first_row_id in the manifest
 * list and their files inherit it when read; the version is fixed at creation.
 */
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { MemoryCatalog, Table, ValidationError, fileUri } from "../../../runtime/iceberg";
import { readAvroFile } from "../../../runtime/iceberg/avro";
import { CONTENT_DATA, readManifest, readManifestList } from "../../../runtime/iceberg/manifests";
import { applyUpdates, newTableMetadata, parseMetadata } from "../../../runtime/iceberg/metadata";
import { stringifyIcebergJson } from "../../../runtime/iceberg/spec";

process.env.FLOE_LOG_LEVEL = "error";
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "floe-iceberg-v3-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const columns = [
  { name: "id", type: "long", required: true },
  { name: "v", type: "string" },
];

describe("format version 3", () => {
  it("assigns row ids: next-row-id, snapshot first-row-id / added-rows, manifest and file first_row_id", async () => {
    const cat = new MemoryCatalog(fileUri(join(dir, "a")));
    await cat.createNamespace(["db"]);
    const t = await Table.create(cat, { namespace: ["db"], name: "t" }, { columns, identifier: ["id"], formatVersion: 3 });
    expect(t.metadata["format-version"]).toBe(3);
    expect(t.metadata["next-row-id"]).toBe(0);
    expect(t.metadata.properties["format-version"]).toBeUndefined();
    await t
      .newWrite()
      .upsert([
        { id: 1n, v: "a" },
        { id: 2n, v: "b" },
        { id: 3n, v: "c" },
      ])
      .commit();
    await t
      .newWrite()
      .upsert([
        { id: 4n, v: "d" },
        { id: 5n, v: "e" },
      ])
      .commit();
    const reloaded = await Table.load(cat, t.id);
    const m = reloaded.metadata;
    expect(m["next-row-id"]).toBe(5);
    const [s1, s2] = m.snapshots;
    expect([s1["first-row-id"], s1["added-rows"]]).toEqual([0, 3]);
    expect([s2["first-row-id"], s2["added-rows"]]).toEqual([3, 2]);
    const io = cat.fileIO();
    const list = await readManifestList(io, s2["manifest-list"]);
    const { metadata } = readAvroFile(await io.read(s2["manifest-list"]), "manifest list");
    expect(metadata["format-version"]).toBe("3");
    expect(metadata["first-row-id"]).toBe("3");
    const data = list.filter((x) => x.content === 0);
    expect(data.map((x) => x.first_row_id).sort()).toEqual([0n, 3n]);
    const files = (await Promise.all(data.map((x) => readManifest(io, x)))).flat().filter((e) => e.file.content === CONTENT_DATA);
    expect(files.map((e) => [e.file.record_count, e.file.first_row_id]).sort()).toEqual([
      [2n, 3n],
      [3n, 0n],
    ]);
  });

  it("is fixed at creation: upgrade-format-version to another version and unknown versions are refused", () => {
    const request = { name: "t", schema: { type: "struct" as const, "schema-id": 0, fields: [{ id: 1, name: "id", required: true, type: "long" }] } };
    const v2 = newTableMetadata(request, "file:///tmp/t");
    expect(v2["format-version"]).toBe(2);
    expect(v2["next-row-id"]).toBeUndefined();
    expect(() => applyUpdates(v2, [{ action: "upgrade-format-version", "format-version": 3 }])).toThrow(/fixed when a table is created/);
    expect(() => newTableMetadata({ ...request, properties: { "format-version": "4" } }, "file:///tmp/t")).toThrow(ValidationError);
    const v3 = newTableMetadata({ ...request, properties: { "format-version": "3" } }, "file:///tmp/t");
    expect(parseMetadata(stringifyIcebergJson(v3), "x")["format-version"]).toBe(3);
    // a v3 snapshot without row lineage fields, or one behind next-row-id, is refused
    const snap = { "snapshot-id": 1n, "sequence-number": 1, "timestamp-ms": 1, "manifest-list": "x", summary: { operation: "append" as const } };
    expect(() => applyUpdates(v3, [{ action: "add-snapshot", snapshot: snap }])).toThrow(/first-row-id and added-rows/);
    const moved = applyUpdates(v3, [{ action: "add-snapshot", snapshot: { ...snap, "first-row-id": 0, "added-rows": 10 } }]);
    expect(moved["next-row-id"]).toBe(10);
    expect(() =>
      applyUpdates(moved, [{ action: "add-snapshot", snapshot: { ...snap, "snapshot-id": 2n, "sequence-number": 2, "first-row-id": 9, "added-rows": 1 } }]),
    ).toThrow(/behind the table's next-row-id 10/);
  });

  it("rejects a format version other than 2 or 3 at Table.create", async () => {
    const cat = new MemoryCatalog(fileUri(join(dir, "b")));
    await cat.createNamespace(["db"]);
    await expect(Table.create(cat, { namespace: ["db"], name: "t" }, { columns, formatVersion: 4 as never })).rejects.toThrow(/formatVersion is 4/);
  });
});
