import { bucketHash, murmur3, parsePartitionExpr, parseTransform, partitionFieldName } from "../../../runtime/iceberg/transforms";
import { normalizer } from "../../../runtime/iceberg/values";
import { parsePrimitive } from "../../../runtime/iceberg/types";

const norm = (type: string, v: unknown) => normalizer(parsePrimitive(type))(v, "t");
const hash = (type: string, v: unknown) => bucketHash(parsePrimitive(type), norm(type, v));

describe("bucket hashes (Iceberg spec appendix B examples)", () => {
  it("matches the spec's reference values", () => {
    expect(hash("int", 34)).toBe(2017239379);
    expect(hash("long", 34n)).toBe(2017239379);
    expect(hash("decimal(4,2)", "14.20")).toBe(-500754589);
    expect(hash("date", "2017-11-16")).toBe(-653330422);
    expect(hash("time", 81068000000n)).toBe(-662762989); // 22:31:08
    expect(hash("timestamp", 1510871468000000n)).toBe(-2047944441); // 2017-11-16T22:31:08
    expect(hash("timestamptz", 1510871468000000n)).toBe(-2047944441); // 2017-11-16T14:31:08-08:00
    expect(hash("string", "iceberg")).toBe(1210000089);
    expect(hash("uuid", "f79c3e09-677c-4bbd-a479-3f349cb785e7")).toBe(1488055340);
    expect(hash("binary", new Uint8Array([0, 1, 2, 3]))).toBe(-188683207);
    expect(murmur3(new Uint8Array([]))).toBe(0);
  });
});

describe("transforms", () => {
  const apply = (t: string, type: string, v: unknown) => parseTransform(t, parsePrimitive(type), "p").apply(parsePrimitive(type), norm(type, v));
  it("truncates like the spec", () => {
    expect(apply("truncate[10]", "int", 1)).toBe(0);
    expect(apply("truncate[10]", "int", -1)).toBe(-10);
    expect(apply("truncate[10]", "long", -1n)).toBe(-10n);
    expect(apply("truncate[50]", "decimal(9,2)", "10.65")).toBe(1050n);
    expect(apply("truncate[3]", "string", "iceberg")).toBe("ice");
  });
  it("computes years, months, days and hours since the epoch", () => {
    expect(apply("year", "date", "2017-11-16")).toBe(47);
    expect(apply("month", "date", "2017-11-16")).toBe(47 * 12 + 10);
    expect(apply("day", "date", "2017-11-16")).toBe(17486);
    expect(apply("day", "timestamptz", -1n)).toBe(-1); // floor, not toward zero
    expect(apply("hour", "timestamp", 1510871468000000n)).toBe(419686);
    expect(apply("month", "timestamp", -1n)).toBe(-1);
    expect(apply("bucket[16]", "int", 34)).toBe(2017239379 % 16);
  });
  it("renders partition paths and parses user expressions", () => {
    const t = parseTransform("month", parsePrimitive("date"), "p");
    expect(t.toPath(parsePrimitive("int"), 47 * 12 + 10)).toBe("2017-11");
    expect(parseTransform("hour", parsePrimitive("timestamptz"), "p").toPath(parsePrimitive("int"), 419686)).toBe("2017-11-16-22");
    expect(parsePartitionExpr("bucket(16, id)")).toEqual({ column: "id", transform: "bucket[16]" });
    expect(parsePartitionExpr("day(created_at)")).toEqual({ column: "created_at", transform: "day" });
    expect(parsePartitionExpr("region")).toEqual({ column: "region", transform: "identity" });
    expect(partitionFieldName("id", "bucket[16]")).toBe("id_bucket");
    expect(partitionFieldName("s", "truncate[4]")).toBe("s_trunc");
  });
  it("refuses transforms that do not apply, naming the column", () => {
    expect(() => parseTransform("day", parsePrimitive("string"), 'partition "day(s)"')).toThrow(/partition "day\(s\)": transform day does not apply to string/);
    expect(() => parseTransform("bucket[4]", parsePrimitive("double"), "p")).toThrow(/does not apply to double/);
    expect(() => parseTransform("zorder", parsePrimitive("int"), "p")).toThrow(/unsupported partition transform "zorder"/);
  });
});
