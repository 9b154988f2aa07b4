import { attnumsByName, CatalogAttribute, resolveAttnums } from "../../../runtime/cdc/layout";

/** A catalog from "name" (alive) and "-" (dropped) entries, attnums 1.. in order. */
const cat = (...names: string[]): CatalogAttribute[] =>
  names.map((n, i) => ({ attnum: i + 1, name: n === "-" ? `........pg.dropped.${i + 1}........` : n, dropped: n === "-" }));
const ref = (...cols: [string, number | undefined][]) => cols.map(([name, attnum]) => ({ name, attnum }));

describe("resolveAttnums: a relation message's columns on attnums", () => {
  const held = ref(["id", 1], ["a", 2], ["b", 3]);

  it.each([
    ["nothing changed", held, ["id", "a", "b"], cat("id", "a", "b"), [1, 2, 3]],
    ["a column added", held, ["id", "a", "b", "c"], cat("id", "a", "b", "c"), [1, 2, 3, 4]],
    ["the stream is before a later add", held, ["id", "a", "b"], cat("id", "a", "b", "c"), [1, 2, 3]],
    ["a column dropped", held, ["id", "b"], cat("id", "-", "b"), [1, 3]],
    ["the stream is before a later drop", held, ["id", "a", "b"], cat("id", "-", "b"), [1, 2, 3]],
    ["a rename", held, ["id", "x", "b"], cat("id", "x", "b"), [1, 2, 3]],
    ["a rename through a name the catalog no longer has", held, ["id", "tmp", "b"], cat("id", "final", "b"), [1, 2, 3]],
    ["a rename, then an add of the old name", held, ["id", "x", "b", "a"], cat("id", "x", "b", "a"), [1, 2, 3, 4]],
    ["a drop, then an add of the same name (stream after both)", held, ["id", "b", "a"], cat("id", "-", "b", "a"), [1, 3, 4]],
    ["added and dropped since (stream between)", held, ["id", "a", "b", "c"], cat("id", "a", "b", "-"), [1, 2, 3, 4]],
    ["a dropped column of a name added later", held, ["id", "a", "b", "c"], cat("id", "a", "b", "c", "-"), [1, 2, 3, 4]],
    ["several adds, the stream sees the first", held, ["id", "a", "b", "c"], cat("id", "a", "b", "c", "d"), [1, 2, 3, 4]],
    ["a rename of a dropped column, shown under its new name", held, ["id", "a", "z"], cat("id", "a", "-"), [1, 2, 3]],
  ] as const)("%s", (_what, reference, names, catalog, expected) => {
    expect(resolveAttnums(reference, names, catalog)).toEqual({ ambiguous: false, attnums: expected });
  });

  it("skips attnums added and dropped before the layout held (not candidates)", () => {
    // attnum 3 was added and dropped before; 4 is b; the stream adds c (5)
    expect(resolveAttnums(ref(["id", 1], ["a", 2], ["b", 4]), ["id", "a", "b", "c"], cat("id", "a", "-", "b", "c"))).toEqual({
      ambiguous: false,
      attnums: [1, 2, 4, 5],
    });
  });

  it("never places a column after one the stream does not show yet (attnums only grow)", () => {
    // c (4) and d (5) are alive: the stream shows one new column, which can only be c
    expect(resolveAttnums(held, ["id", "a", "b", "x"], cat("id", "a", "b", "c", "d"))).toEqual({ ambiguous: false, attnums: [1, 2, 3, 4] });
  });

  it.each([
    ["a drop and an add of the same name, the same names shown", held, ["id", "a", "b"], cat("id", "-", "b", "a")],
    ["a rename then a drop, or a drop then an add and a drop", held, ["id", "a", "x"], cat("id", "a", "-", "-")],
    ["attnums of the layout held not known", ref(["id", 1], ["a", undefined]), ["id", "a2"], cat("id", "a2")],
  ] as const)("reports %s as ambiguous", (_what, reference, names, catalog) => {
    expect(resolveAttnums(reference, names, catalog)).toMatchObject({ ambiguous: true });
  });

  it("reports a layout nothing fits (a column alive now missing from the stream)", () => {
    expect(resolveAttnums(held, ["id", "b"], cat("id", "a", "b"))).toMatchObject({ ambiguous: true, reason: expect.stringMatching(/no placement/) });
  });

  it("by name: held names keep their attnum, live names take theirs, new names a fresh negative one", () => {
    expect(attnumsByName(held, ["id", "b", "c", "q"], cat("id", "-", "b", "c"))).toEqual([1, 3, 4, -1]);
  });
});
