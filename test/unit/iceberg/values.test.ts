import fc from "fast-check";
import {
  bigIntToMinBytes,
  columnStats,
  compareUtf8,
  formatDecimal,
  normalizer,
  parseDecimal,
  toBound,
  truncateUpper,
  truncateLower,
} from "../../../runtime/iceberg/values";
import { ValidationError } from "../../../runtime/iceberg/catalog";
import { parsePrimitive } from "../../../runtime/iceberg/types";

describe("decimals are exact", () => {
  it("parses and formats canonical strings", () => {
    expect(parseDecimal("-12.340", 12, 3)).toBe(-12340n);
    expect(parseDecimal("12.3", 12, 3)).toBe(12300n);
    expect(parseDecimal("0", 5, 2)).toBe(0n);
    expect(parseDecimal(".5", 5, 2)).toBe(50n);
    expect(parseDecimal("1.2300", 5, 2)).toBe(123n); // trailing zeros beyond the scale are fine
    expect(formatDecimal(-12340n, 3)).toBe("-12.340");
    expect(formatDecimal(5n, 3)).toBe("0.005");
    expect(formatDecimal(-5n, 0)).toBe("-5");
  });
  it("refuses values that would lose digits or overflow the precision", () => {
    expect(() => parseDecimal("1.234", 5, 2)).toThrow(/more than 2 fraction digits/);
    expect(() => parseDecimal("1234.5", 5, 2)).toThrow(/does not fit decimal\(5,2\)/);
    expect(() => parseDecimal("1e5", 5, 2)).toThrow(ValidationError);
    expect(() => normalizer(parsePrimitive("decimal(10,2)"))(1.5, "c")).toThrow(/expected a decimal string/);
  });
  it("round-trips any 38-digit value (property)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 38n) + 1n, max: 10n ** 38n - 1n }), fc.integer({ min: 0, max: 38 }), (v, scale) => {
        expect(parseDecimal(formatDecimal(v, scale), 38, scale)).toBe(v);
      }),
    );
  });
});

describe("single-value binary serialization (Iceberg spec appendix D)", () => {
  it("encodes each type as the spec says", () => {
    expect(Buffer.from(toBound(parsePrimitive("int"), 1)).toString("hex")).toBe("01000000");
    expect(Buffer.from(toBound(parsePrimitive("long"), -2n)).toString("hex")).toBe("feffffffffffffff");
    expect(Buffer.from(toBound(parsePrimitive("date"), 19000)).toString("hex")).toBe("384a0000");
    expect(Buffer.from(toBound(parsePrimitive("timestamptz"), 1n)).toString("hex")).toBe("0100000000000000");
    expect(Buffer.from(toBound(parsePrimitive("double"), 1.5)).toString("hex")).toBe("000000000000f83f");
    expect(Buffer.from(toBound(parsePrimitive("float"), 1.5)).toString("hex")).toBe("0000c03f");
    expect(Buffer.from(toBound(parsePrimitive("boolean"), true)).toString("hex")).toBe("01");
    expect(Buffer.from(toBound(parsePrimitive("string"), "é")).toString("hex")).toBe("c3a9");
    expect(Buffer.from(toBound(parsePrimitive("uuid"), "f79c3e09-677c-4bbd-a479-3f349cb785e7")).toString("hex")).toBe("f79c3e09677c4bbda4793f349cb785e7");
    // decimals: unscaled two's complement, big endian, minimum bytes
    expect(Buffer.from(toBound(parsePrimitive("decimal(9,2)"), 12345n)).toString("hex")).toBe("3039");
    expect(Buffer.from(toBound(parsePrimitive("decimal(9,2)"), -1n)).toString("hex")).toBe("ff");
    expect(Buffer.from(bigIntToMinBytes(128n)).toString("hex")).toBe("0080");
    expect(Buffer.from(bigIntToMinBytes(-129n)).toString("hex")).toBe("ff7f");
  });

  it("min-byte decimal encoding decodes back (property)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 130n), max: 2n ** 130n }), (v) => {
        const b = bigIntToMinBytes(v);
        let x = 0n;
        for (const byte of b) x = (x << 8n) | BigInt(byte);
        if (b[0] & 0x80) x -= 1n << BigInt(8 * b.length);
        expect(x).toBe(v);
        if (b.length > 1) expect(b[0] === 0 && !(b[1] & 0x80)).toBe(false); // minimal
      }),
    );
  });
});

describe("column stats", () => {
  it("counts values, nulls and NaNs and keeps NaN out of the bounds", () => {
    const s = columnStats(parsePrimitive("double"), [1.5, null, NaN, -3, null]);
    expect(s).toMatchObject({ valueCount: 5, nullCount: 2, nanCount: 1 });
    expect(Buffer.from(s.lower!).readDoubleLE()).toBe(-3);
    expect(Buffer.from(s.upper!).readDoubleLE()).toBe(1.5);
  });
  it("has no bounds for an all-null column", () => {
    const s = columnStats(parsePrimitive("long"), [null, null]);
    expect(s.lower).toBeUndefined();
    expect(s.upper).toBeUndefined();
    expect(s.nullCount).toBe(2);
  });
  it("orders strings by code point (UTF-8 byte order), not UTF-16", () => {
    expect(compareUtf8("\uffff", "😀")).toBeLessThan(0); // U+FFFF < U+1F600 although its UTF-16 unit is larger
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }), (a, b) => {
        const bytes = Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
        expect(Math.sign(compareUtf8(a, b))).toBe(bytes);
      }),
    );
  });
  it("truncated string bounds still bound every value (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "binary", maxLength: 40 }), { minLength: 1, maxLength: 20 }), (values) => {
        const s = columnStats(parsePrimitive("string"), values);
        const lo = Buffer.from(s.lower!);
        for (const v of values) {
          const b = Buffer.from(v, "utf8");
          expect(Buffer.compare(lo, b)).toBeLessThanOrEqual(0);
          if (s.upper) expect(Buffer.compare(Buffer.from(s.upper), b)).toBeGreaterThanOrEqual(0);
        }
        expect(Array.from(lo.toString("utf8")).length).toBeLessThanOrEqual(16);
      }),
    );
    expect(truncateLower("x".repeat(20))).toBe("x".repeat(16));
    expect(truncateUpper("a".repeat(20))).toBe("a".repeat(15) + "b");
  });
});

describe("canonical values", () => {
  const n = (t: string) => normalizer(parsePrimitive(t));
  it("accepts the documented forms", () => {
    expect(n("long")(5, "c")).toBe(5n);
    expect(n("long")(5n, "c")).toBe(5n);
    expect(n("date")("1970-01-02", "c")).toBe(1);
    expect(n("date")("1969-12-31", "c")).toBe(-1);
    expect(n("timestamptz")(new Date(1), "c")).toBe(1000n);
    expect(n("uuid")("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "c")).toBe("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  });
  it("names the column and the value on a mismatch", () => {
    expect(() => n("int")(2 ** 31, 'column "q"')).toThrow('column "q": expected an int32 number, got 2147483648');
    expect(() => n("long")(1.5, 'column "q"')).toThrow(/expected a bigint/);
    expect(() => n("uuid")("nope", 'column "u"')).toThrow(/expected a uuid string/);
    expect(() => n("boolean")("true", 'column "b"')).toThrow(/expected a boolean/);
    expect(() => n("fixed[4]")(new Uint8Array(3), 'column "f"')).toThrow(/4 bytes/);
  });
});

describe("float bounds", () => {
  it("orders -0.0 before 0.0", () => {
    const s = columnStats(parsePrimitive("double"), [0, -0]);
    expect(Object.is(Buffer.from(s.lower!).readDoubleLE(), -0)).toBe(true);
    expect(Object.is(Buffer.from(s.upper!).readDoubleLE(), 0)).toBe(true);
  });
});
