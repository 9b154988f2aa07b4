/**
 * Position deletes every engine applies: one delete file per data file with `referenced_data_file`
 * set (polars refuses a delete file whose rows point at several data files; v3's deletion vectors
 * are one per data file too). A commit that deletes rows of several data files is read identically
 * by every engine.
 */
import { Table } from "../../runtime/iceberg";
import { readManifest, readManifestList } from "../../runtime/iceberg/manifests";
import { CdcBed, RunningWriter, startCdcBed } from "../helpers/cdc";
import { compareEngines, expectIdentical } from "../helpers/engines";

describe("position delete files, read by every engine", () => {
  let bed: CdcBed;
  let writer: RunningWriter;
  beforeAll(async () => {
    bed = await startCdcBed();
    await bed.pg.sql(
      `CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric(12,2)); INSERT INTO accounts SELECT g, 'o' || g, g FROM generate_series(1, 100) g;`,
      [],
      "app",
    );
    writer = await bed.startWriter({ tables: [{ source: "public.accounts" }] });
    await bed.waitForEqual("accounts");
    // a second data file, in its own commit
    await bed.pg.sql(`INSERT INTO accounts SELECT g, 'o' || g, g FROM generate_series(101, 200) g`, [], "app");
    await bed.waitForEqual("accounts");
  });
  afterAll(async () => {
    await writer?.stop();
    await bed?.stop();
  });

  it("one transaction updating and deleting rows of two data files: one delete file per data file, identical in every engine", async () => {
    await bed.pg.sql(`BEGIN; UPDATE accounts SET balance = balance + 1 WHERE id % 10 = 0; DELETE FROM accounts WHERE id % 10 = 5; COMMIT;`, [], "app");
    await bed.waitForEqual("accounts");
    expectIdentical(await compareEngines(bed, "public.accounts"));
    const t = await Table.load(await bed.catalog(), { namespace: ["floe"], name: "accounts" });
    const io = t.catalog.fileIO({ "metadata-location": t.metadataLocation, metadata: t.metadata });
    const entries = (await Promise.all((await readManifestList(io, t.currentSnapshot()!["manifest-list"])).map((m) => readManifest(io, m))))
      .flat()
      .filter((e) => e.status !== 2);
    const dataFiles = entries.filter((e) => e.file.content === 0).map((e) => e.file.file_path);
    const deleteFiles = entries.filter((e) => e.file.content === 1).map((e) => e.file);
    // the last commit deleted rows of both earlier data files: one delete file for each, naming it
    const referenced = deleteFiles.map((f) => f.referenced_data_file);
    expect(referenced.every((r) => typeof r === "string" && dataFiles.includes(r))).toBe(true);
    expect(new Set(referenced).size).toBe(deleteFiles.length);
    expect(deleteFiles.length).toBeGreaterThanOrEqual(2);
    for (const f of deleteFiles)
      expect([f.lower_bounds?.[0].value.toString(), f.upper_bounds?.[0].value.toString()]).toEqual([f.referenced_data_file, f.referenced_data_file]);
  });
});
