import { applyUpdates, checkRequirements, newSnapshotId, newTableMetadata, parseMetadata } from "../../../runtime/iceberg/metadata";
import { CommitConflictError, CorruptMetadataError, ValidationError } from "../../../runtime/iceberg/catalog";
import { parseIcebergJson, stringifyIcebergJson, type Snapshot } from "../../../runtime/iceberg/spec";
import { buildSchema, canPromote } from "../../../runtime/iceberg/types";
import { stringifyMetadata } from "../../../runtime/iceberg/sql-catalog";

const { schema } = buildSchema(
  [
    { name: "id", type: "long", required: true },
    { name: "tags", type: { list: "string" } },
    { name: "v", type: "decimal(10,2)" },
  ],
  ["id"],
);

function snapshot(id: bigint, seq: number, parent?: bigint): Snapshot {
  return {
    "snapshot-id": id,
    ...(parent ? { "parent-snapshot-id": parent } : {}),
    "sequence-number": seq,
    "timestamp-ms": 1000 + seq,
    "manifest-list": `file:///t/metadata/snap-${id}.avro`,
    summary: { operation: "append" },
  };
}

describe("schemas", () => {
  it("assigns column ids first, then nested element ids, and records the identifier", () => {
    expect(schema.fields.map((f) => [f.id, f.name])).toEqual([
      [1, "id"],
      [2, "tags"],
      [3, "v"],
    ]);
    expect(schema.fields[1].type).toEqual({ type: "list", "element-id": 4, element: "string", "element-required": false });
    expect(schema["identifier-field-ids"]).toEqual([1]);
  });
  it("refuses nullable or float identifier columns", () => {
    expect(() => buildSchema([{ name: "id", type: "long" }], ["id"])).toThrow(/must be required/);
    expect(() => buildSchema([{ name: "id", type: "double", required: true }], ["id"])).toThrow(/not float\/double/);
    expect(() => buildSchema([{ name: "a", type: "long" }], ["b"])).toThrow(/"b" is not a column/);
  });
  it("allows only Iceberg type promotions", () => {
    expect(canPromote("int", "long")).toBe(true);
    expect(canPromote("float", "double")).toBe(true);
    expect(canPromote("decimal(10,2)", "decimal(12,2)")).toBe(true);
    expect(canPromote("decimal(10,2)", "decimal(12,3)")).toBe(false);
    expect(canPromote("long", "int")).toBe(false);
    expect(canPromote("string", "binary")).toBe(false);
  });
});

describe("table metadata", () => {
  const base = newTableMetadata({ name: "t", schema }, "file:///w/t");

  it("starts as v2 with no snapshot", () => {
    expect(base["format-version"]).toBe(2);
    expect(base["last-column-id"]).toBe(4);
    expect(base["last-sequence-number"]).toBe(0);
    expect(base["current-snapshot-id"]).toBeNull();
    expect(base["last-partition-id"]).toBe(999);
  });

  it("adds snapshots, moves main, keeps logs", () => {
    const s1 = snapshot(newSnapshotId(), 1);
    const m1 = applyUpdates(
      base,
      [
        { action: "add-snapshot", snapshot: s1 },
        { action: "set-snapshot-ref", "ref-name": "main", "snapshot-id": s1["snapshot-id"], type: "branch" },
      ],
      "file:///w/t/metadata/00000-a.metadata.json",
    );
    expect(m1["current-snapshot-id"]).toBe(s1["snapshot-id"]);
    expect(m1["last-sequence-number"]).toBe(1);
    expect(m1["snapshot-log"]).toHaveLength(1);
    expect(m1["metadata-log"]).toEqual([{ "metadata-file": "file:///w/t/metadata/00000-a.metadata.json", "timestamp-ms": base["last-updated-ms"] }]);
    expect(base.snapshots).toHaveLength(0); // base untouched
    // a snapshot whose sequence number is not above the table's is a conflict
    const stale = snapshot(newSnapshotId(), 1, BigInt(s1["snapshot-id"]));
    expect(() => applyUpdates(m1, [{ action: "add-snapshot", snapshot: stale }])).toThrow(CommitConflictError);
  });

  it("checks requirements against the current metadata", () => {
    const s1 = snapshot(42n, 1);
    const m1 = applyUpdates(base, [
      { action: "add-snapshot", snapshot: s1 },
      { action: "set-snapshot-ref", "ref-name": "main", "snapshot-id": 42n, type: "branch" },
    ]);
    expect(() => checkRequirements(m1, [{ type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": 42n }])).not.toThrow();
    expect(() => checkRequirements(m1, [{ type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": null }])).toThrow(
      /branch main is at snapshot 42, expected none/,
    );
    expect(() => checkRequirements(m1, [{ type: "assert-table-uuid", uuid: "x" }])).toThrow(CommitConflictError);
    expect(() => checkRequirements(m1, [{ type: "assert-current-schema-id", "current-schema-id": 1 }])).toThrow(CommitConflictError);
    expect(() => checkRequirements(m1, [{ type: "assert-create" }])).toThrow(/already exists/);
    expect(() => checkRequirements(undefined, [{ type: "assert-create" }])).not.toThrow();
  });

  it("adds a schema and makes it current with -1", () => {
    const evolved = { ...schema, fields: [...schema.fields, { id: 5, name: "n", required: false, type: "int" }] };
    const m = applyUpdates(base, [
      { action: "add-schema", schema: evolved },
      { action: "set-current-schema", "schema-id": -1 },
    ]);
    expect(m["current-schema-id"]).toBe(1);
    expect(m["last-column-id"]).toBe(5);
    expect(() =>
      applyUpdates(base, [{ action: "add-schema", schema: { ...schema, fields: [{ id: 9, name: "m", required: false, type: "variant" }] } }]),
    ).toThrow(ValidationError);
  });

  it("keeps 63-bit snapshot ids exact through JSON", () => {
    const id = 9223372036854775807n;
    const s = snapshot(id, 1);
    const m = applyUpdates(base, [
      { action: "add-snapshot", snapshot: s },
      { action: "set-snapshot-ref", "ref-name": "main", "snapshot-id": id, type: "branch" },
    ]);
    const text = stringifyMetadata(m);
    expect(text).toContain('"current-snapshot-id": 9223372036854775807');
    const back = parseMetadata(text, "x");
    expect(back["current-snapshot-id"]).toBe(id);
    expect(back.snapshots[0]["snapshot-id"]).toBe(id);
    expect(parseIcebergJson<{ "snapshot-id": bigint }>(stringifyIcebergJson({ "snapshot-id": 123n }))["snapshot-id"]).toBe(123n);
    for (let i = 0; i < 100; i++) {
      const r = newSnapshotId();
      expect(r > 0n && r < 2n ** 63n).toBe(true);
    }
  });

  it("writes no current snapshot as -1 (as Java does) and reads it back as none", () => {
    const text = stringifyMetadata(base);
    expect(text).toContain('"current-snapshot-id": -1');
    expect(parseMetadata(text, "x")["current-snapshot-id"]).toBeNull();
  });

  it("reports unreadable metadata by location", () => {
    expect(() => parseMetadata("{", "file:///m.json")).toThrow(CorruptMetadataError);
    expect(() => parseMetadata('{"format-version": 1}', "file:///m.json")).toThrow(/file:\/\/\/m.json is not Iceberg v2 or v3 table metadata/);
  });
});
