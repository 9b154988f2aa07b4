import fc from "fast-check";
import { daysFromCivil, mapColumn, parseDate, parseTime, parseTimestamp, PgColumn, UnsupportedTypeError } from "../../../runtime/cdc/types";

const col = (typeName: string, extra: Partial<PgColumn> = {}): PgColumn => ({
  name: "c",
  attnum: 1,
  typeName,
  typType: "b",
  typeMod: -1,
  notNull: false,
  declared: typeName,
  ...extra,
});
const numericMod = (p: number, s: number) => ((p << 16) | s) + 4;

describe("Postgres -> Iceberg type mapping", () => {
  it.each([
    ["int2", "int"],
    ["int4", "int"],
    ["int8", "long"],
    ["float4", "float"],
    ["float8", "double"],
    ["bool", "boolean"],
    ["text", "string"],
    ["varchar", "string"],
    ["uuid", "uuid"],
    ["date", "date"],
    ["time", "time"],
    ["timestamp", "timestamp"],
    ["timestamptz", "timestamptz"],
    ["bytea", "binary"],
    ["jsonb", "string"],
    ["json", "string"],
    ["interval", "string"],
    ["inet", "string"],
    ["cidr", "string"],
  ])("%s -> %s", (pg, iceberg) => {
    expect(mapColumn(col(pg), "t").iceberg).toBe(iceberg);
  });

  it("maps numeric(p,s) to decimal and unconstrained numeric to exact text", () => {
    expect(mapColumn(col("numeric", { typeMod: numericMod(12, 3) }), "t").iceberg).toBe("decimal(12,3)");
    expect(mapColumn(col("numeric"), "t").iceberg).toBe("string");
    expect(mapColumn(col("numeric", { typeMod: numericMod(50, 2) }), "t").iceberg).toBe("string");
  });

  it("maps enums to strings and arrays to lists of their element", () => {
    expect(mapColumn(col("mood", { typType: "e" }), "t").iceberg).toBe("string");
    const arr = mapColumn(col("_int4", { elemTypeName: "int4", elemTypType: "b" }), "t");
    expect(arr.iceberg).toEqual({ list: "int" });
    expect(arr.convert("{1,NULL,3}")).toEqual([1, null, 3]);
    expect(mapColumn(col("_text", { elemTypeName: "text" }), "t").convert('{"a,b",c,"\\"q\\""}')).toEqual(["a,b", "c", '"q"']);
    expect(() => arr.convert("{{1,2},{3,4}}")).toThrow(/multi-dimensional/);
  });

  it("reports a type it cannot map, naming the column and the type", () => {
    expect(() => mapColumn(col("complex", { typType: "c", declared: "complex" }), "public.t")).toThrow(UnsupportedTypeError);
    expect(() => mapColumn(col("complex", { typType: "c", declared: "complex" }), "public.t")).toThrow(/public\.t\.c has type complex/);
  });

  it("converts text values exactly", () => {
    expect(mapColumn(col("int8"), "t").convert("9223372036854775807")).toBe(9223372036854775807n);
    expect(mapColumn(col("float8"), "t").convert("NaN")).toBeNaN();
    expect(mapColumn(col("float8"), "t").convert("-Infinity")).toBe(-Infinity);
    expect(mapColumn(col("float4"), "t").convert("1.25")).toBe(1.25);
    // float4 text parsed as a double is not the float4 value; widening to double must see the float4 value
    expect(mapColumn(col("float4"), "t").convert("-16856.154")).toBe(-16856.154296875);
    expect(mapColumn(col("float8"), "t").convert("-16856.154")).toBe(-16856.154);
    expect(mapColumn(col("bool"), "t").convert("t")).toBe(true);
    expect(mapColumn(col("bytea"), "t").convert("\\x00ff10")).toEqual(new Uint8Array([0, 255, 16]));
    const dec = mapColumn(col("numeric", { typeMod: numericMod(10, 2) }), "t");
    expect(dec.convert("-12345678.90")).toBe("-12345678.90");
    expect(() => dec.convert("NaN")).toThrow(/NaN/);
  });

  it("parses dates, times and timestamps (with offsets and BC) to epoch units", () => {
    expect(parseDate("1970-01-01")).toBe(0);
    expect(parseDate("2000-03-01")).toBe(11017);
    expect(parseDate("0001-01-01 BC")).toBe(daysFromCivil(0, 1, 1));
    expect(() => parseDate("infinity")).toThrow(/infinite/);
    expect(parseTime("23:59:59.999999")).toBe(86_399_999_999n);
    expect(parseTimestamp("1970-01-01 00:00:00.5")).toBe(500_000n);
    expect(parseTimestamp("2024-02-29 12:34:56.123456+00")).toBe(BigInt(Date.UTC(2024, 1, 29, 12, 34, 56)) * 1000n + 123_456n);
    expect(parseTimestamp("2024-02-29 12:34:56+05:30")).toBe(BigInt(Date.UTC(2024, 1, 29, 7, 4, 56)) * 1000n);
  });

  it("agrees with JS Date on every day in a wide range", () => {
    fc.assert(
      fc.property(fc.integer({ min: -500_000, max: 500_000 }), (day) => {
        const d = new Date(day * 86_400_000);
        return daysFromCivil(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()) === day;
      }),
    );
  });
});
