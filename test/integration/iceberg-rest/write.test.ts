/**
 * The table writer committing through the REST catalog client to a real REST catalog server
 * (Iceberg's fixture), read back by an engine nobody here wrote: chdb's `icebergLocal`.
 */
import { TableIdentifier } from "../../../runtime/iceberg/catalog";
import { RestCatalog, restLocationPath } from "../../../runtime/iceberg/rest";
import { Row, Table } from "../../../runtime/iceberg/table";
import { INSTALL_TIMEOUT_MS, RestCatalogServer, startRestCatalog } from "../../helpers/iceberg-rest";

const chdb = require("chdb") as { query(sql: string, format: string): string };

let server: RestCatalogServer;
let catalog: RestCatalog;

const columns = [
  { name: "id", type: "long", required: true },
  { name: "qty", type: "int" },
  { name: "note", type: "string" },
  { name: "at", type: "timestamptz" },
  { name: "amount", type: "decimal(12,2)" },
];

interface Expected {
  id: bigint;
  qty: number | null;
  note: string | null;
  at: bigint | null;
  cents: bigint | null;
}

function row(e: Expected): Row {
  const amount =
    e.cents === null
      ? null
      : `${e.cents < 0n ? "-" : ""}${(e.cents < 0n ? -e.cents : e.cents) / 100n}.${String((e.cents < 0n ? -e.cents : e.cents) % 100n).padStart(2, "0")}`;
  return { id: e.id, qty: e.qty, note: e.note, at: e.at, amount };
}

/** Reads the table with chdb and returns rows in the Expected shape, ordered by id. */
function readWithChdb(location: string): Expected[] {
  const dir = restLocationPath(location);
  const sql =
    `SELECT toString(id) AS id, qty, note, toString(toUnixTimestamp64Micro(at)) AS at, toString(toInt64(amount * 100)) AS cents ` +
    `FROM icebergLocal('${dir}') ORDER BY toInt64(id)`;
  // chdb reads only under its user_files_path, the working directory: query from the table's dir
  const cwd = process.cwd();
  process.chdir(dir);
  let out: string;
  try {
    out = chdb.query(sql, "JSONEachRow");
  } finally {
    process.chdir(cwd);
  }
  return out
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => {
      const r = JSON.parse(l);
      return {
        id: BigInt(r.id),
        qty: r.qty,
        note: r.note,
        at: r.at === null ? null : BigInt(r.at),
        cents: r.cents === null ? null : BigInt(r.cents),
      };
    });
}

function sorted(m: Map<bigint, Expected>): Expected[] {
  return [...m.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

beforeAll(async () => {
  server = await startRestCatalog();
  catalog = await RestCatalog.connect({ uri: server.uri, warehouse: server.warehouse });
  await catalog.createNamespace(["db"]);
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  await server?.stop();
});

test("inserts, updates and deletes committed through REST read back exactly by chdb; summary survives a reload", async () => {
  const id: TableIdentifier = { namespace: ["db"], name: "orders" };
  const table = await Table.create(catalog, id, { columns, identifier: ["id"] });
  const expected = new Map<bigint, Expected>();
  const base = 1_700_000_000_000_000n;
  for (let i = 1n; i <= 500n; i++) {
    expected.set(i, {
      id: i,
      qty: i % 7n === 0n ? null : Number(i) * 3,
      note: i % 11n === 0n ? null : `note ${i} — ünïcødé ✓`,
      at: i % 13n === 0n ? null : base + i * 1_000_001n,
      cents: i % 17n === 0n ? null : (i % 2n === 0n ? -1n : 1n) * (i * 12_345n),
    });
  }
  const r1 = await table.newWrite().upsert(sorted(expected).map(row)).setSummary({ "floe.lsn.shard-0": "0/16B3748" }).commit();
  expect(r1.addedRows).toBe(500);
  expect(readWithChdb(table.metadata.location)).toEqual(sorted(expected));

  // updates and deletes (position deletes through the writer's key index)
  const tx = table.newWrite();
  const updates: Expected[] = [];
  for (let i = 2n; i <= 500n; i += 5n) {
    const e = { ...expected.get(i)!, qty: 999_999, note: `updated ${i}` };
    updates.push(e);
    expected.set(i, e);
  }
  const deletes: bigint[] = [];
  for (let i = 3n; i <= 500n; i += 9n) {
    if (expected.has(i) && !updates.some((u) => u.id === i)) {
      deletes.push(i);
      expected.delete(i);
    }
  }
  tx.upsert(updates.map(row)).delete(deletes.map((d) => ({ id: d })));
  const r2 = await tx.setSummary({ "floe.lsn.shard-0": "0/16B9000" }).commit();
  expect(r2.sequenceNumber).toBe(r1.sequenceNumber + 1);
  expect(readWithChdb(table.metadata.location)).toEqual(sorted(expected));

  // a second client, a fresh load from the server: same snapshot, same summary
  const other = await RestCatalog.connect({ uri: server.uri });
  const reloaded = await Table.load(other, id);
  expect(reloaded.currentSnapshot()?.["snapshot-id"]).toBe(r2.snapshotId);
  expect(reloaded.summaryProperty("floe.lsn.shard-0")).toBe("0/16B9000");
  expect(reloaded.metadataLocation).toBe(r2.metadataLocation);
  const loaded = await other.loadTable(id);
  expect(loaded.metadata.snapshots.map((s) => s["snapshot-id"])).toEqual([r1.snapshotId, r2.snapshotId]);
  expect(loaded.metadata.refs.main["snapshot-id"]).toBe(r2.snapshotId);
});

test("two writers on one base: the loser gets the REST conflict, reloads, retries, and both commits land", async () => {
  const id: TableIdentifier = { namespace: ["db"], name: "contended" };
  await Table.create(catalog, id, { columns, identifier: ["id"] });
  const clientA = await RestCatalog.connect({ uri: server.uri });
  const clientB = await RestCatalog.connect({ uri: server.uri });
  const a = await Table.load(clientA, id);
  const b = await Table.load(clientB, id);
  const mk = (n: bigint): Expected => ({ id: n, qty: Number(n), note: `w${n}`, at: 1_000_000n * n, cents: n * 100n });

  const ra = await a
    .newWrite()
    .upsert([mk(1n), mk(2n)].map(row))
    .commit();
  expect(ra.attempts).toBe(1);
  // b's base is stale now: its first commit attempt is refused by the server with 409
  const rb = await b
    .newWrite()
    .upsert([mk(3n), mk(4n)].map(row))
    .commit();
  expect(rb.attempts).toBeGreaterThanOrEqual(2);

  await a.refresh();
  const concurrent = await Promise.all([
    a
      .newWrite()
      .upsert([mk(5n)].map(row))
      .commit(),
    b
      .newWrite()
      .upsert([mk(6n)].map(row))
      .commit(),
  ]);
  expect(concurrent.map((r) => r.attempts).sort()).toEqual([1, 2]);

  const final = await clientA.loadTable(id);
  expect(final.metadata.snapshots).toHaveLength(4);
  expect(readWithChdb(final.metadata.location)).toEqual([1n, 2n, 3n, 4n, 5n, 6n].map(mk));
});
