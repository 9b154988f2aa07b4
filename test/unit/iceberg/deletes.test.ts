/**
 * The delete-file seam (runtime/iceberg/deletes.ts) is chosen by the table's format version: a v2
 * table's updates become position delete files; a table whose catalog reports format version 3
 * still takes commits without deletes, but a commit that must delete rows fails with an error that
 * names the format version (deletion vectors are not written yet), and leaves no file behind.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "fs";
import { fileURLToPath } from "url";
import { tmpdir } from "os";
import { join } from "path";
import { MemoryCatalog, Table, ValidationError, fileUri, type Catalog, type CreateTableRequest, type LoadTableResult, type TableIdentifier, type TableRequirement, type TableUpdate } from "../../../runtime/iceberg";
import { CONTENT_POSITION_DELETES, readManifest, readManifestList } from "../../../runtime/iceberg/manifests";

process.env.FLOE_LOG_LEVEL = "error";
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "floe-iceberg-deletes-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A MemoryCatalog seen through a client that reports its tables as format version 3 (as a REST catalog serving a v3 table would). */
class V3Catalog implements Catalog {
  readonly name = "v3";
  readonly writesMetadataFiles = true;
  constructor(readonly inner: MemoryCatalog) {}
  private static v3(r: LoadTableResult): LoadTableResult {
    return { ...r, metadata: Object.assign(structuredClone(r.metadata), { "format-version": 3 }) };
  }
  createNamespace = (ns: string[]) => this.inner.createNamespace(ns);
  namespaceExists = (ns: string[]) => this.inner.namespaceExists(ns);
  listNamespaces = () => this.inner.listNamespaces();
  dropNamespace = (ns: string[]) => this.inner.dropNamespace(ns);
  listTables = (ns: string[]) => this.inner.listTables(ns);
  tableExists = (id: TableIdentifier) => this.inner.tableExists(id);
  createTable = async (id: TableIdentifier, request: CreateTableRequest) => V3Catalog.v3(await this.inner.createTable(id, request));
  loadTable = async (id: TableIdentifier) => V3Catalog.v3(await this.inner.loadTable(id));
  commitTable = async (id: TableIdentifier, requirements: TableRequirement[], updates: TableUpdate[]) => V3Catalog.v3(await this.inner.commitTable(id, requirements, updates));
  dropTable = (id: TableIdentifier) => this.inner.dropTable(id);
  fileIO = () => this.inner.fileIO();
}

function filesUnder(location: string): string[] {
  const root = fileURLToPath(location);
  return readdirSync(root, { recursive: true, encoding: "utf8" }).filter((f) => statSync(join(root, f)).isFile()).sort();
}

const columns = [
  { name: "id", type: "long" as const, required: true },
  { name: "v", type: "string" as const },
];

describe("delete files by format version", () => {
  it("v2: an update writes a position delete file", async () => {
    const cat = new MemoryCatalog(fileUri(join(dir, "v2")));
    await cat.createNamespace(["db"]);
    const t = await Table.create(cat, { namespace: ["db"], name: "t" }, { columns, identifier: ["id"] });
    await t.newWrite().upsert([{ id: 1n, v: "a" }, { id: 2n, v: "b" }]).commit();
    const r = await t.newWrite().upsert([{ id: 1n, v: "a2" }]).commit();
    expect(r.deletedRows).toBe(1);
    const io = cat.fileIO();
    const entries = (await Promise.all((await readManifestList(io, t.currentSnapshot()!["manifest-list"])).map((m) => readManifest(io, m)))).flat();
    const deletes = entries.filter((e) => e.file.content === CONTENT_POSITION_DELETES);
    expect(deletes).toHaveLength(1);
    expect(deletes[0].file.file_format).toBe("PARQUET");
  });

  it("v3: commits without deletes go through; one that deletes rows fails naming the format version and leaves no file", async () => {
    const cat = new V3Catalog(new MemoryCatalog(fileUri(join(dir, "v3"))));
    await cat.createNamespace(["db"]);
    const id = { namespace: ["db"], name: "t" };
    const t = await Table.create(cat, id, { columns, identifier: ["id"] });
    expect(t.metadata["format-version"]).toBe(3);
    await t.newWrite().upsert([{ id: 1n, v: "a" }, { id: 2n, v: "b" }]).commit();
    const before = filesUnder(t.location);

    const update = t.newWrite().upsert([{ id: 1n, v: "a2" }]).commit();
    await expect(update).rejects.toThrow(ValidationError);
    await expect(update).rejects.toThrow(/format version 3.*v3 deletion vectors are not supported yet/);
    // the data file the failed commit wrote is gone; the table is unchanged
    expect(filesUnder(t.location)).toEqual(before);
    expect(t.metadata.snapshots).toHaveLength(1);
    expect(t.indexedRows).toBe(2);

    // a delete fails the same way
    await expect(t.newWrite().delete([{ id: 2n }]).commit()).rejects.toThrow(/format version 3/);
    // appending new keys still works
    const r = await t.newWrite().upsert([{ id: 3n, v: "c" }]).commit();
    expect(r.addedRows).toBe(1);
    expect(t.indexedRows).toBe(3);
  });
});
