/**
 * The initial copy's binary COPY decoder against the text path it replaces, on a real Postgres:
 * every type floe maps, with edge values (nulls, negative and wide decimals, far dates and
 * timestamps, float specials, multi-byte text), decoded both ways into the Iceberg writer's
 * normalized values and compared value by value. Infinite timestamps / dates and NaN decimals are
 * refused by both with the same message.
 */
import { Client } from "pg";
import { copyColumns, copyColumnsBinary, copyOut, type ColumnChunk, type CopyColumn } from "../../../runtime/cdc/copy";
import { CopyBinaryDecoder } from "../../../runtime/cdc/copy-binary";
import { COLUMNS_SQL, mapColumn, SESSION_OPTIONS, type PgColumn } from "../../../runtime/cdc/types";
import { fieldCodec } from "../../../runtime/iceberg/values";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";

jest.setTimeout(120_000);

describe("binary COPY decoding equals the text path", () => {
  let pg: TestPostgres;
  let client: Client;
  beforeAll(async () => {
    pg = await startPostgres();
    client = new Client({ connectionString: pg.url(), options: SESSION_OPTIONS, types: { getTypeParser: () => (v: string) => v } } as never);
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await pg?.stop();
  });

  const columnsOf = async (table: string) => {
    const cols = (await client.query(COLUMNS_SQL, [table])).rows as PgColumn[];
    return cols.map((c) => ({ pg: c, mapped: mapColumn(c, table) }));
  };

  /** Both paths, normalized: the text path's canonical values through the writer's normalizers. */
  const both = async (table: string, chunkRows = 7) => {
    const cols = await columnsOf(table);
    const specType = (t: unknown, i: number) =>
      typeof t === "string" ? t : { type: "list", "element-id": 1000 + i, element: (t as { list: string }).list, "element-required": false };
    const codecs = cols.map((c, i) => fieldCodec({ id: i + 1, name: c.pg.name, required: false, type: specType(c.mapped.iceberg, i) as never }));
    const text: unknown[][] = cols.map(() => []);
    const list = cols.map((c) => `"${c.pg.name}"`).join(", ");
    await copyColumns(
      client,
      `SELECT ${list} FROM ${table}`,
      cols.map((c) => c.mapped.convert),
      (ch: ColumnChunk) =>
        ch.columns.forEach((col, i) => {
          for (let r = 0; r < ch.rowCount; r++) {
            const v = col[r];
            text[i].push(v === null ? null : codecs[i].normalize(v, cols[i].pg.name));
          }
        }),
    );
    const binary: unknown[][] = cols.map(() => []);
    const copyCols: CopyColumn[] = cols.map((c) => ({
      name: c.pg.name,
      typeName: c.pg.typeName,
      typType: c.pg.typType,
      elemTypeName: c.pg.elemTypeName,
      iceberg: c.mapped.iceberg,
      convert: c.mapped.convert,
    }));
    const n = await copyColumnsBinary(
      client,
      table,
      copyCols,
      (ch: ColumnChunk) => ch.columns.forEach((col, i) => binary[i].push(...Array.from(col as ArrayLike<unknown>).slice(0, ch.rowCount))),
      { chunkRows },
    );
    return { cols, text, binary, n };
  };

  it("decodes every mapped type to the same normalized values", async () => {
    await pg.sql(
      `
      CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
      CREATE DOMAIN positive AS int CHECK (VALUE > 0);
      CREATE TABLE typed (
        id int PRIMARY KEY, i2 smallint, i8 bigint, o oid, n12 numeric(12,2), n18 numeric(18,4), n30 numeric(30,10), n5 numeric(5,0), nfree numeric,
        r real, d double precision, t text, vc varchar(20), ch char(4), nm name, b boolean, dt date, tm time, ts timestamp, tstz timestamptz,
        iv interval, u uuid, j json, jb jsonb, by bytea, ints int[], texts text[], m mood, p positive, ip inet, ttz timetz, mo money, bits bit(3));
      INSERT INTO typed VALUES
        (1, 32767, 9223372036854775807, 4294967295, 9999999999.99, 99999999999999.9999, 12345678901234567890.0123456789, 99999, 3.14159265358979323846264338327950288419,
         1.5, 'NaN', 'héllo ✓ 𝄞', 'vc', 'ab', 'name', true, '2024-02-29', '23:59:59.999999', '1999-12-31 23:59:59.123456', '2024-06-01 12:00:00.000001+02',
         '1 year 2 mons 3 days 04:05:06', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{"a": [1, 2]}', '{"b": {"c": null}}', '\\x00ff10', '{1,NULL,3}', '{"x,y",z}', 'happy', 7,
         '192.168.0.1/24', '12:00:00+05:30', 12.34, '101'),
        (2, -32768, -9223372036854775808, 0, -9999999999.99, -0.0001, -0.0000000001, -99999, 'NaN',
         'Infinity', '-Infinity', '', '', '', '', false, '0001-01-01 BC', '00:00:00', '0001-01-01 00:00:00 BC', '4000-12-31 23:59:59.999999+00',
         '-1 days', '00000000-0000-0000-0000-000000000000', '[]', '[1, "two", {"3": 4.0}]', '\\x', '{}', '{NULL}', 'sad', 1,
         '::1', '00:00:00-12', -0.01, '000'),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (4, 0, 0, 1, 0, 0, 0, 0, 0, -0.0, 2.5e-300, repeat('x', 3000), 'a"b\\c', 'z', 'n', true, '1970-01-01', '12:34:56.5', '1970-01-01 00:00:00', '1969-12-31 23:59:59.999999+00',
         'P1Y', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '"s"', 'null', '\\xdeadbeef', '{-1,2147483647}', '{"",NULL,"a\\\\b"}', 'ok', 2147483647,
         '10.0.0.0/8', '23:59:59.999999+14', 0, '111'),
        (5, 1, 1, 1, 0.01, 0.0001, 0.0000000001, 1, 1e-20, 3.4028235e38, 1.7976931348623157e308, E'tab\\there\\nnewline', 'x', 'y', 'w', false, '294276-12-31', '24:00:00',
         '294276-12-31 23:59:59.999999', '1900-01-01 00:00:00+00', '1 mon -1 days', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', '{}', '{}', '\\x00', '{{1,2},{3,4}}', '{a}', 'happy', 3,
         '2001:db8::/32', '00:00:00+00', 1000000, '010');`,
      [],
      "postgres",
    );
    // The 2-d array row cannot go to Iceberg either way; the rest is compared.
    await pg.sql("UPDATE typed SET ints = '{5}' WHERE id = 5");
    const { cols, text, binary, n } = await both("typed");
    expect(n).toBe(5);
    for (let i = 0; i < cols.length; i++) {
      const t = cols[i].mapped.iceberg;
      const a = binary[i];
      const b = text[i];
      // real: the text path parses the shortest decimal, the binary path has the float32 itself;
      // both are the same float32, which is what Parquet FLOAT stores.
      const same = t === "float" ? a.map((x) => (x === null ? null : Math.fround(x as number))) : a;
      const expected = t === "float" ? b.map((x) => (x === null ? null : Math.fround(x as number))) : b;
      expect({ column: cols[i].pg.name, values: same }).toEqual({ column: cols[i].pg.name, values: expected });
    }
    // int8, timestamps and decimals up to 18 digits came as BigInt64Arrays where a chunk had no null
    const chunks: ColumnChunk[] = [];
    await copyColumnsBinary(
      client,
      "typed",
      (await columnsOf("typed"))
        .filter((c) => ["id", "i8", "tstz", "n12"].includes(c.pg.name))
        .map((c) => ({ name: c.pg.name, typeName: c.pg.typeName, typType: c.pg.typType, iceberg: c.mapped.iceberg, convert: c.mapped.convert })),
      (c) => chunks.push(c),
      { where: "id <> 3", chunkRows: 2 },
    );
    expect(chunks.map((c) => c.columns.map((col) => col instanceof BigInt64Array))).toEqual([
      [false, true, true, true],
      [false, true, true, true],
    ]);
  });

  it("refuses values Iceberg has no form for, as the text path does", async () => {
    for (const [type, value, message] of [
      ["timestamptz", "infinity", /infinite timestamps have no Iceberg form/],
      ["timestamp", "-infinity", /infinite timestamps have no Iceberg form/],
      ["date", "infinity", /infinite dates have no Iceberg form/],
      ["numeric(10,2)", "NaN", /NaN and infinities have no decimal form/],
    ] as const) {
      await pg.sql(`DROP TABLE IF EXISTS odd; CREATE TABLE odd (v ${type}); INSERT INTO odd VALUES ('${value}')`);
      await expect(both("odd")).rejects.toThrow(message);
    }
  });

  it("decodes many chunks, and rows split anywhere across payloads", async () => {
    await pg.sql(`DROP TABLE IF EXISTS many; CREATE TABLE many (id bigint, n numeric(12,2), ts timestamptz, t text);
      INSERT INTO many SELECT g, g / 7.0, '2020-01-01'::timestamptz + g * interval '1 second', 'row ' || g || ' é' FROM generate_series(-500, 1500) g`);
    const { cols, text, binary, n } = await both("many", 97);
    expect(n).toBe(2001);
    expect(binary).toEqual(text);
    // the same stream fed back in pieces of 1 to 61 bytes
    const payloads: Buffer[] = [];
    await copyOut(client, `COPY many TO STDOUT (FORMAT binary)`, (b, start, end) => payloads.push(Buffer.from(b.subarray(start, end))));
    const all = Buffer.concat(payloads);
    const split: unknown[][] = cols.map(() => []);
    const d = new CopyBinaryDecoder(
      cols.map((c) => ({ typeName: c.pg.typeName, typType: c.pg.typType, iceberg: c.mapped.iceberg, convert: c.mapped.convert })),
      (ch) => ch.columns.forEach((col, i) => split[i].push(...Array.from(col as ArrayLike<unknown>))),
    );
    for (let at = 0, step = 1; at < all.length; at += step, step = ((step * 7) % 61) + 1) d.push(all.subarray(at, at + step));
    d.flush();
    expect(d.complete).toBe(true);
    expect(split).toEqual(text);
    const cut = new CopyBinaryDecoder(
      cols.map((c) => ({ typeName: c.pg.typeName, typType: c.pg.typType, iceberg: c.mapped.iceberg, convert: c.mapped.convert })),
      () => undefined,
    );
    cut.push(all.subarray(0, all.length - 40));
    expect(() => cut.flush()).toThrow(/middle of a row/);
  });
});
