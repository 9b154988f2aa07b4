import { rewriteSql } from "../../../runtime/query/cli";

describe("floe query: table references", () => {
  const tables = new Map([
    ["orders", "/lake/floe/orders"],
    ["o'brien", "/lake/floe/o'brien"],
  ]);

  it("rewrites <namespace>.<table> into icebergLocal('<location>')", () => {
    expect(rewriteSql("SELECT count() FROM floe.orders WHERE x > 1", "floe", tables)).toBe("SELECT count() FROM icebergLocal('/lake/floe/orders') WHERE x > 1");
    expect(rewriteSql("SELECT * FROM floe.orders a JOIN floe.orders b USING (id)", "floe", tables)).toBe(
      "SELECT * FROM icebergLocal('/lake/floe/orders') a JOIN icebergLocal('/lake/floe/orders') b USING (id)",
    );
  });

  it("leaves string literals, quoted identifiers and longer names alone", () => {
    expect(rewriteSql("SELECT 'floe.orders', \"floe.orders\" FROM floe.orders", "floe", tables)).toBe(
      "SELECT 'floe.orders', \"floe.orders\" FROM icebergLocal('/lake/floe/orders')",
    );
    expect(rewriteSql("SELECT myfloe.orders, x.floe.orders FROM t", "floe", tables)).toBe("SELECT myfloe.orders, x.floe.orders FROM t");
  });

  it("names the known tables when a table is missing", () => {
    expect(() => rewriteSql("SELECT * FROM floe.nope", "floe", tables)).toThrow("no table floe.nope in the catalog (tables: orders, o'brien)");
    expect(() => rewriteSql("SELECT * FROM floe.nope", "floe", new Map())).toThrow("(tables: none yet)");
  });
});
