import { MANIFEST_FILE_SCHEMA, decimalBytes, manifestEntrySchema, partitionAvroSchema, readAvroFile, writeAvroFile } from "../../../runtime/iceberg/avro";
import { buildSchema } from "../../../runtime/iceberg/types";

describe("Avro container files", () => {
  it("round-trips manifest list records with 64-bit ids and the header metadata", () => {
    const rec = {
      manifest_path: "file:///t/metadata/a-m0.avro",
      manifest_length: 123n,
      partition_spec_id: 0,
      content: 1,
      sequence_number: 7n,
      min_sequence_number: 3n,
      added_snapshot_id: 9223372036854775807n,
      added_files_count: 1,
      existing_files_count: 0,
      deleted_files_count: 0,
      added_rows_count: 10n,
      existing_rows_count: 0n,
      deleted_rows_count: 0n,
      partitions: null,
      key_metadata: null,
    };
    const bytes = writeAvroFile(MANIFEST_FILE_SCHEMA, [rec, rec], { "format-version": "2" });
    const back = readAvroFile(bytes, "test");
    expect(back.records).toEqual([rec, rec]);
    expect(back.metadata["format-version"]).toBe("2");
    // field ids are in the embedded schema
    expect(JSON.stringify(back.schema)).toContain('"field-id":517');
  });

  it("manifest entry schema carries the spec's field ids and the partition struct", () => {
    const { schema } = buildSchema([
      { name: "d", type: "decimal(20,2)" },
      { name: "s", type: "string" },
    ]);
    const part = partitionAvroSchema({ "spec-id": 0, fields: [{ "source-id": 1, "field-id": 1000, name: "d", transform: "identity" }] }, schema) as {
      fields: { type: unknown[]; "field-id": number }[];
    };
    expect(part.fields[0]["field-id"]).toBe(1000);
    expect(part.fields[0].type[1]).toMatchObject({ type: "fixed", size: decimalBytes(20), logicalType: "decimal", precision: 20, scale: 2 });
    const text = JSON.stringify(manifestEntrySchema(part));
    for (const id of [0, 1, 2, 3, 4, 100, 101, 102, 103, 104, 108, 109, 110, 125, 128, 131, 132, 134, 135, 137, 140, 117, 118, 126, 127])
      expect(text).toContain(`"field-id":${id}`);
    expect(decimalBytes(9)).toBe(4);
    expect(decimalBytes(18)).toBe(8);
    expect(decimalBytes(38)).toBe(16);
  });

  it("names what it could not decode", () => {
    expect(() => readAvroFile(new Uint8Array([1, 2, 3]), "manifest file:///x.avro")).toThrow(/manifest file:\/\/\/x.avro: cannot decode Avro file/);
  });
});
