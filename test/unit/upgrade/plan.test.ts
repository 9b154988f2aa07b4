import fc from "fast-check";
import {
  applied,
  blocking,
  databaseEntry,
  parseConnString,
  preflight,
  progress,
  repointDatabase,
  schemaDdl,
  SchemaSnapshot,
  sequenceSync,
  ServerFacts,
  TableInfo,
  verifyMismatches,
} from "../../../runtime/upgrade/plan";

const server = (over: Partial<ServerFacts> = {}): ServerFacts => ({
  major: 16,
  walLevel: "logical",
  maxReplicationSlots: 10,
  usedReplicationSlots: 1,
  maxWalSenders: 10,
  usedWalSenders: 1,
  largeObjects: 0,
  extensions: [],
  unsupportedObjects: [],
  superuser: true,
  ...over,
});

const table = (over: Partial<TableInfo> = {}): TableInfo => ({
  schema: "public",
  name: "items",
  relkind: "r",
  persistence: "p",
  replident: "d",
  replidentIndex: null,
  hasInheritance: false,
  columns: [{ name: "id", type: "bigint", notNull: true, default: null, identity: "", generated: "", collation: null }],
  constraints: [{ name: "items_pkey", type: "p", def: "PRIMARY KEY (id)" }],
  indexes: [],
  estimatedRows: 10,
  ...over,
});

const snap = (tables: TableInfo[], over: Partial<SchemaSnapshot> = {}): SchemaSnapshot => ({
  schemas: ["public"],
  enums: [],
  domains: [],
  sequences: [],
  tables,
  ...over,
});

describe("preflight", () => {
  const cases: [string, ServerFacts, SchemaSnapshot, ServerFacts | undefined, string[]][] = [
    ["clean", server(), snap([table()]), server({ major: 17 }), []],
    ["wal_level replica on blue", server({ walLevel: "replica" }), snap([table()]), undefined, ["wal-level"]],
    ["wal_level replica on green (rollback needs it)", server(), snap([table()]), server({ major: 17, walLevel: "replica" }), ["wal-level"]],
    ["no free slots", server({ maxReplicationSlots: 2, usedReplicationSlots: 1 }), snap([table()]), undefined, ["replication-slots"]],
    ["no free wal senders", server({ maxWalSenders: 3, usedWalSenders: 2 }), snap([table()]), undefined, ["wal-senders"]],
    ["not a superuser", server({ superuser: false }), snap([table()]), undefined, ["privileges"]],
    ["green not newer", server(), snap([table()]), server({ major: 16 }), ["major-version"]],
    ["large objects", server({ largeObjects: 3 }), snap([table()]), undefined, ["large-objects"]],
    ["extension", server({ extensions: ["postgis"] }), snap([table()]), undefined, ["extension"]],
    ["view", server({ unsupportedObjects: [{ kind: "view", name: "public.v" }] }), snap([table()]), undefined, ["unsupported-object"]],
    ["unlogged table", server(), snap([table({ persistence: "u" })]), undefined, ["unlogged-table"]],
    ["partitioned table", server(), snap([table({ relkind: "p" })]), undefined, ["partitioned-table"]],
    ["no key, default identity", server(), snap([table({ constraints: [] })]), undefined, ["no-replica-identity"]],
    ["no key, identity nothing", server(), snap([table({ constraints: [], replident: "n" })]), undefined, ["no-replica-identity"]],
    ["no key, identity full: a warning", server(), snap([table({ constraints: [], replident: "f" })]), undefined, ["no-primary-key"]],
    [
      "no key, identity index",
      server(),
      snap([table({ constraints: [{ name: "u", type: "u", def: "UNIQUE (id)" }], replident: "i", replidentIndex: "u" })]),
      undefined,
      ["no-primary-key"],
    ],
    ["no tables", server(), snap([]), undefined, ["no-tables"]],
  ];
  it.each(cases)("%s", (_, blue, schema, green, codes) => {
    const findings = preflight(blue, schema, green);
    expect(findings.map((f) => f.code)).toEqual(codes);
    for (const f of findings) {
      expect(f.message.length).toBeGreaterThan(20);
      expect(f.fix.length).toBeGreaterThan(5);
    }
  });

  it("warnings do not block; --allow accepts a finding by object", () => {
    const f = preflight(server({ unsupportedObjects: [{ kind: "view", name: "public.v" }] }), snap([table({ constraints: [], replident: "f" })]));
    expect(blocking(f).map((x) => x.object)).toEqual(["public.v"]);
    expect(blocking(f, ["public.v"])).toEqual([]);
  });
});

describe("schemaDdl", () => {
  it("recreates enums, domains, sequences, tables, constraints, indexes, foreign keys, ownership and replica identity in dependency order", () => {
    const s: SchemaSnapshot = {
      schemas: ["public", "shop"],
      enums: [{ schema: "shop", name: "mood", labels: ["ok", "it's fine"] }],
      domains: [
        {
          schema: "shop",
          name: "positive",
          baseType: "integer",
          notNull: false,
          default: null,
          checks: [{ name: "positive_check", def: "CHECK ((VALUE > 0))" }],
        },
      ],
      sequences: [
        {
          schema: "shop",
          name: "orders_id_seq",
          dataType: "bigint",
          start: "1",
          increment: "1",
          min: "1",
          max: "9223372036854775807",
          cache: "1",
          cycle: false,
          ownedBy: { schema: "shop", table: "orders", column: "id" },
          identity: true,
        },
        {
          schema: "shop",
          name: "tickets_seq",
          dataType: "bigint",
          start: "1000",
          increment: "1",
          min: "1",
          max: "9223372036854775807",
          cache: "1",
          cycle: false,
          ownedBy: { schema: "shop", table: "lines", column: "ticket" },
          identity: false,
        },
      ],
      tables: [
        table({
          schema: "shop",
          name: "orders",
          columns: [
            { name: "id", type: "bigint", notNull: true, default: null, identity: "a", generated: "", collation: null },
            { name: "mood", type: "shop.mood", notNull: true, default: "'ok'::shop.mood", identity: "", generated: "", collation: null },
            { name: "Name", type: "text", notNull: false, default: null, identity: "", generated: "", collation: '"C"' },
            { name: "twice", type: "integer", notNull: false, default: '(length("Name") * 2)', identity: "", generated: "s", collation: null },
          ],
          constraints: [
            { name: "orders_pkey", type: "p", def: "PRIMARY KEY (id)" },
            { name: "orders_name_check", type: "c", def: "CHECK ((\"Name\" <> ''::text))" },
          ],
          indexes: ['CREATE INDEX orders_name ON shop.orders USING btree ("Name")'],
          replident: "f",
        }),
        table({
          schema: "shop",
          name: "lines",
          columns: [
            { name: "order_id", type: "bigint", notNull: true, default: null, identity: "", generated: "", collation: null },
            { name: "ticket", type: "bigint", notNull: true, default: "nextval('shop.tickets_seq'::regclass)", identity: "", generated: "", collation: null },
            { name: "qty", type: "shop.positive", notNull: false, default: null, identity: "", generated: "", collation: null },
          ],
          constraints: [
            { name: "lines_order_fkey", type: "f", def: "FOREIGN KEY (order_id) REFERENCES shop.orders(id)" },
            { name: "lines_pkey", type: "p", def: "PRIMARY KEY (order_id, ticket)" },
            { name: "lines_ticket_key", type: "u", def: "UNIQUE (ticket)" },
          ],
        }),
      ],
    };
    expect(schemaDdl(s)).toEqual([
      'CREATE SCHEMA IF NOT EXISTS "shop"',
      `CREATE TYPE "shop"."mood" AS ENUM ('ok', 'it''s fine')`,
      'CREATE DOMAIN "shop"."positive" AS integer CONSTRAINT "positive_check" CHECK ((VALUE > 0))',
      'CREATE SEQUENCE "shop"."tickets_seq" AS bigint INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1000 CACHE 1 NO CYCLE',
      'CREATE TABLE "shop"."orders" ("id" bigint GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME "shop"."orders_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1 NO CYCLE) NOT NULL, ' +
        `"mood" shop.mood DEFAULT 'ok'::shop.mood NOT NULL, "Name" text COLLATE "C", "twice" integer GENERATED ALWAYS AS ((length("Name") * 2)) STORED)`,
      `CREATE TABLE "shop"."lines" ("order_id" bigint NOT NULL, "ticket" bigint DEFAULT nextval('shop.tickets_seq'::regclass) NOT NULL, "qty" shop.positive)`,
      'ALTER TABLE "shop"."orders" ADD CONSTRAINT "orders_pkey" PRIMARY KEY (id)',
      `ALTER TABLE "shop"."orders" ADD CONSTRAINT "orders_name_check" CHECK (("Name" <> ''::text))`,
      'CREATE INDEX orders_name ON shop.orders USING btree ("Name")',
      'ALTER TABLE "shop"."lines" ADD CONSTRAINT "lines_pkey" PRIMARY KEY (order_id, ticket)',
      'ALTER TABLE "shop"."lines" ADD CONSTRAINT "lines_ticket_key" UNIQUE (ticket)',
      'ALTER TABLE "shop"."lines" ADD CONSTRAINT "lines_order_fkey" FOREIGN KEY (order_id) REFERENCES shop.orders(id)',
      'ALTER SEQUENCE "shop"."tickets_seq" OWNED BY "shop"."lines"."ticket"',
      'ALTER TABLE "shop"."orders" REPLICA IDENTITY FULL',
    ]);
  });
});

describe("sequenceSync", () => {
  it("sets every used sequence to blue's last value (is_called), skips unused ones, quotes names", () => {
    expect(
      sequenceSync([
        { schema: "public", name: "items_id_seq", lastValue: "42" },
        { schema: "public", name: "never", lastValue: null },
        { schema: "we'ird", name: "S", lastValue: "-5" },
      ]),
    ).toEqual([`SELECT setval('"public"."items_id_seq"', 42, true)`, `SELECT setval('"we''ird"."S"', -5, true)`]);
  });
});

describe("progress and the applied check", () => {
  const rels = (...states: string[]) => states.map((state, i) => ({ table: `t${i}`, state }));
  it.each([
    ["copying", rels("r", "d"), 1000n, 1000n, false, ["t1"]],
    ["all ready, caught up", rels("r", "r"), 1000n, 1000n, true, []],
    ["all ready, lag under the threshold", rels("r"), 1500n, 1000n, true, []],
    ["all ready, lag over the threshold", rels("r"), 5000n, 1000n, false, []],
    ["no feedback yet", rels("r"), 10n, null, false, []],
    ["no tables", rels(), 10n, 10n, false, []],
  ] as const)("%s", (_, r, blue, appliedLsn, caughtUp, copying) => {
    const p = progress([...r], blue, appliedLsn, 1000n);
    expect(p.caughtUp).toBe(caughtUp);
    expect(p.copying).toEqual(copying);
  });
  it("applied only at or past the final LSN", () => {
    expect(applied(100n, 99n)).toBe(false);
    expect(applied(100n, 100n)).toBe(true);
    expect(applied(100n, 101n)).toBe(true);
    expect(applied(100n, null)).toBe(false);
  });
});

describe("verifyMismatches", () => {
  it("names the tables whose counts or sample checksums differ", () => {
    expect(
      verifyMismatches([
        { table: "a", blueCount: 3, greenCount: 3, blueSample: "x", greenSample: "x" },
        { table: "b", blueCount: 3, greenCount: 2, blueSample: "x", greenSample: "x" },
        { table: "c", blueCount: null, greenCount: null, blueSample: "x", greenSample: "y" },
      ]),
    ).toEqual(["b: 3 rows on blue, 2 on green", "c: the checksum of the sample (highest primary keys) differs between blue and green"]);
  });
});

describe("pgbouncer.ini repoint", () => {
  const ini = `;; comment\n[databases]\napp = host=127.0.0.1 port=5432 dbname=app pool_size=20\nother = host=10.0.0.1 port=5432 dbname=other\n\n[pgbouncer]\nlisten_port = 6432\napp = not-a-database\n`;
  it("rewrites only the entry's host, port and dbname, keeping its other settings and every other line", () => {
    const out = repointDatabase(ini, "app", { host: "127.0.0.1", port: 5433, dbname: "app" });
    expect(out).toBe(ini.replace("app = host=127.0.0.1 port=5432 dbname=app pool_size=20", "app = host=127.0.0.1 port=5433 dbname=app pool_size=20"));
    expect(databaseEntry(out, "app")).toBe("host=127.0.0.1 port=5433 dbname=app pool_size=20");
    expect(databaseEntry(out, "other")).toBe("host=10.0.0.1 port=5432 dbname=other");
  });
  it("throws, naming the entry, when there is none", () => {
    expect(() => repointDatabase(ini, "nope", { host: "h", port: 1, dbname: "d" })).toThrow(/no \[databases\] entry "nope"/);
  });
  it("round-trips any target (property)", () => {
    fc.assert(
      fc.property(fc.domain(), fc.integer({ min: 1, max: 65535 }), fc.stringMatching(/^[a-z_][a-z0-9_]{0,20}$/), (host, port, dbname) => {
        const kv = parseConnString(databaseEntry(repointDatabase(ini, "app", { host, port, dbname }), "app")!);
        expect(kv).toEqual({ host, port: String(port), dbname, pool_size: "20" });
      }),
    );
  });
});

describe("state file", () => {
  const { mkdtempSync, writeFileSync, statSync } = require("node:fs");

  const { join } = require("node:path");

  const { loadState, newState, record } = require("../../../runtime/upgrade/state");
  const dir = mkdtempSync(join(require("node:os").tmpdir(), "floe-upgrade-state-"));

  it("round-trips, records events, is private to its owner", () => {
    const p = join(dir, "s.json");
    expect(loadState(p)).toBeNull();
    const s = newState({ name: "floe_upgrade", database: "app", poolerDatabase: "app", greenTarget: { host: "h", port: 1, dbname: "app" } });
    record(p, s, "schema-copied", "created 3 schema objects");
    const back = loadState(p);
    expect(back.phase).toBe("schema-copied");
    expect(back.events.map((e: any) => e.msg)).toEqual(["created 3 schema objects"]);
    expect(statSync(p).mode & 0o777).toBe(0o600);
  });

  it("refuses a file that is not an upgrade state, naming it", () => {
    const p = join(dir, "other.json");
    writeFileSync(p, JSON.stringify({ version: 7, phase: "whatever" }));
    expect(() => loadState(p)).toThrow(`${p} is not a floe upgrade state file (version 7, phase whatever)`);
  });
});
