/**
 * A commit whose outcome is unknown is never taken for failed (runtime/iceberg/snapshot.ts): the
 * snapshot producer keeps the commit's files and sends the same commit again until the catalog's
 * answer is definite. A catalog wrapper plays the network: it applies a commit and then loses the
 * answer, or loses the request, and is unreachable for a while. Read back with the independent
 * reader of test/helpers/iceberg-read.ts, and every file the table references must exist.
 */
import { existsSync, mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { MemoryCatalog, Table, fileUri, type TableIdentifier } from "../../../runtime/iceberg";
import { CommitStateUnknownError, type CommitOptions, type LoadTableResult, type TableRequirement, type TableUpdate } from "../../../runtime/iceberg/catalog";
import { localPath } from "../../../runtime/iceberg/io";
import { readManifest, readManifestList } from "../../../runtime/iceberg/manifests";
import { readTable } from "../../helpers/iceberg-read";

process.env.FLOE_LOG_LEVEL = "error";
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "floe-commit-unknown-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Fault = "lose-answer" | "lose-request" | "unreachable" | "conflict-after-someone-else";

/** A MemoryCatalog behind a network that fails commits as scripted; counts what it did. */
class FlakyCatalog extends MemoryCatalog {
  script: Fault[] = [];
  /** While > 0, every call fails as unreachable (and counts down). */
  down = 0;
  /** `down` from the moment a scripted fault fires (the catalog goes away with the answer). */
  thenDown = 0;
  commits = 0;
  applied = 0;
  keys: (string | undefined)[] = [];
  other?: () => Promise<void>;

  override async loadTable(id: TableIdentifier): Promise<LoadTableResult> {
    if (this.down > 0) {
      this.down--;
      throw new Error("connect ECONNREFUSED (catalog down)");
    }
    return super.loadTable(id);
  }

  override async commitTable(id: TableIdentifier, requirements: TableRequirement[], updates: TableUpdate[], options?: CommitOptions): Promise<LoadTableResult> {
    this.commits++;
    this.keys.push(options?.idempotencyKey);
    if (this.down > 0) {
      this.down--;
      throw new Error("connect ECONNREFUSED (catalog down)");
    }
    const fault = this.script.shift();
    const lost = (message: string) => {
      this.down = this.thenDown; // the catalog goes away with the answer
      return new CommitStateUnknownError(message);
    };
    if (fault === "lose-request") throw lost("socket hang up (the request never arrived)");
    if (fault === "conflict-after-someone-else") {
      await this.other!(); // another writer commits first: our request then fails its requirement
      throw lost("HTTP 504, the commit state is unknown");
    }
    const r = await super.commitTable(id, requirements, updates);
    this.applied++;
    if (fault === "lose-answer") throw lost("read ECONNRESET (the answer was lost)");
    return r;
  }
}

let n = 0;
async function setup(): Promise<{ cat: FlakyCatalog; id: TableIdentifier; t: Table; controller: AbortController }> {
  const cat = new FlakyCatalog(fileUri(join(dir, `w${n}`)));
  await cat.createNamespace(["db"]);
  const id = { namespace: ["db"], name: `t${n++}` };
  const controller = new AbortController();
  const t = await Table.create(
    cat,
    id,
    {
      columns: [
        { name: "id", type: "long", required: true },
        { name: "v", type: "string" },
      ],
      identifier: ["id"],
    },
    { signal: controller.signal },
  );
  const first = t.newWrite();
  first.upsert([
    { id: 1n, v: "one" },
    { id: 2n, v: "two" },
  ]);
  await first.commit();
  return { cat, id, t, controller };
}

/** Every file the current snapshot references, and whether it exists. */
async function referencedFiles(t: Table): Promise<{ path: string; exists: boolean }[]> {
  const snap = t.currentSnapshot()!;
  const io = t.catalog.fileIO({ "metadata-location": t.metadataLocation, metadata: t.metadata });
  const out = [{ path: snap["manifest-list"], exists: existsSync(localPath(snap["manifest-list"])) }];
  for (const m of await readManifestList(io, snap["manifest-list"])) {
    out.push({ path: m.manifest_path, exists: existsSync(localPath(m.manifest_path)) });
    for (const e of await readManifest(io, m)) if (e.status !== 2) out.push({ path: e.file.file_path, exists: existsSync(localPath(e.file.file_path)) });
  }
  return out;
}

const rows = async (t: Table) => (await readTable(t, [1, 2])).map((r) => `${r[0]}=${r[1]}`).sort();

describe("a commit whose outcome is unknown", () => {
  it("applied but its answer lost, catalog down on the re-check: settled as committed once reachable, every file kept, committed once", async () => {
    const { cat, id, t } = await setup();
    cat.script = ["lose-answer"];
    cat.thenDown = 3; // the re-sends meet an unreachable catalog first
    const tx = t.newWrite();
    tx.upsert([
      { id: 2n, v: "two'" },
      { id: 3n, v: "three" },
    ]);
    const r = await tx.commit();
    expect(cat.applied).toBe(2); // setup()'s commit, then this one once: the re-send after the catalog came back got a conflict, then found the snapshot
    expect(r.attempts).toBe(1);
    const fresh = await Table.load(cat, id);
    expect(BigInt(fresh.currentSnapshot()!["snapshot-id"])).toBe(r.snapshotId);
    expect((await referencedFiles(fresh)).filter((f) => !f.exists)).toEqual([]);
    expect(await rows(fresh)).toEqual(["1=one", "2=two'", "3=three"]);
    // every send of that commit carried the same idempotency key
    const keys = cat.keys.slice(-5);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("the request lost: the re-send commits it, once", async () => {
    const { cat, id, t } = await setup();
    cat.script = ["lose-request"];
    const tx = t.newWrite();
    tx.upsert([{ id: 4n, v: "four" }]);
    await tx.commit();
    expect(cat.applied).toBe(2); // the first write of setup(), then this one, once
    const fresh = await Table.load(cat, id);
    expect(await rows(fresh)).toEqual(["1=one", "2=two", "4=four"]);
    expect((await referencedFiles(fresh)).filter((f) => !f.exists)).toEqual([]);
  });

  it("definitely not committed (another commit took its parent): the attempt's files go, it is rebased and committed once", async () => {
    const { cat, id, t } = await setup();
    const other = await Table.load(cat, id);
    cat.other = async () => {
      const w = other.newWrite();
      w.upsert([{ id: 9n, v: "other" }]);
      await w.commit();
    };
    cat.script = ["conflict-after-someone-else"];
    const tx = t.newWrite();
    tx.upsert([{ id: 5n, v: "five" }]);
    const r = await tx.commit();
    expect(r.attempts).toBe(2);
    const fresh = await Table.load(cat, id);
    expect(await rows(fresh)).toEqual(["1=one", "2=two", "5=five", "9=other"]);
    expect((await referencedFiles(fresh)).filter((f) => !f.exists)).toEqual([]);
  });

  it("a stop while the catalog is down ends the wait with CommitStateUnknownError and deletes nothing", async () => {
    const { cat, id, t, controller } = await setup();
    cat.script = ["lose-answer"];
    cat.thenDown = Number.MAX_SAFE_INTEGER;
    const tx = t.newWrite();
    tx.upsert([{ id: 6n, v: "six" }]);
    const commit = tx.commit();
    const before = cat.commits;
    while (cat.commits < before + 4) await new Promise((r) => setTimeout(r, 20)); // it keeps asking
    controller.abort();
    await expect(commit).rejects.toBeInstanceOf(CommitStateUnknownError);
    await expect(commit).rejects.toThrow(/stopped while the outcome of commit \d+ was unknown/);
    cat.down = 0;
    const fresh = await Table.load(cat, id);
    expect(await rows(fresh)).toEqual(["1=one", "2=two", "6=six"]); // it had landed: its files are all there
    expect((await referencedFiles(fresh)).filter((f) => !f.exists)).toEqual([]);
  });

  it("a plain conflict stays a conflict: no settling, retried against the new base", async () => {
    const { cat, id, t } = await setup();
    const other = await Table.load(cat, id);
    const w = other.newWrite();
    w.upsert([{ id: 7n, v: "seven" }]);
    await w.commit();
    const before = cat.commits;
    const tx = t.newWrite();
    tx.upsert([{ id: 8n, v: "eight" }]);
    const r = await tx.commit();
    expect(r.attempts).toBe(2);
    expect(cat.commits - before).toBe(2);
    expect(await rows(await Table.load(cat, id))).toEqual(["1=one", "2=two", "7=seven", "8=eight"]);
  });
});
