/**
 * A mirror table's primary-key index kept in step with the table's snapshots: built from the
 * current snapshot when a table is loaded (key columns of the live data files, minus the rows the
 * delete files delete), caught up with other writers' commits by reading only the files each new
 * snapshot added or removed, and marked at the snapshot a commit through this object produced.
 * The index itself (key -> file and position) is PkIndex in pkindex.ts; see index.ts for the
 * design.
 */
import { ValidationError } from "./catalog";
import { deleteFilesFor, deletedPositions } from "./deletes";
import { CONTENT_DATA, CONTENT_EQUALITY_DELETES, CONTENT_POSITION_DELETES, STATUS_ADDED, STATUS_DELETED, readManifest, readManifestList } from "./manifests";
import { readColumnsById } from "./parquet";
import { PkIndex, isNumericKey, joinKey, keyPartFromPhysical, numericKey, type IndexKey } from "./pkindex";
import type { Snapshot } from "./spec";
import { mapLimit, type TableOps } from "./table-ops";

/** Files read at once when rebuilding the index (bounds memory: each file is read whole). */
const READ_CONCURRENCY = 8;

export class TableIndex {
  private index?: PkIndex;
  /** The snapshot the index is in step with (null: the table had none). */
  snapshotId: bigint | null = null;

  constructor(private readonly ops: TableOps) {}

  /** The index, for primary-key tables. */
  get pkIndex(): PkIndex | undefined {
    return this.index;
  }

  /** An empty index for a new primary-key table. */
  init(): void {
    if (this.ops.hasPrimaryKey) this.index = this.newIndex();
  }

  /**
   * Takes `index` (a committed transaction's index of its own rows) as the table's index when the
   * table's is empty: an initial copy then keeps one index of its keys, not two. False otherwise.
   */
  adopt(index: PkIndex): boolean {
    if (!this.index || this.index.size > 0 || this.index.files.size > 0 || this.index.numeric !== index.numeric) return false;
    this.index = index;
    return true;
  }

  private newIndex(): PkIndex {
    return new PkIndex(this.ops.numericKeys());
  }

  /** The index keys of the rows of a data file, in position order (reads only the key columns). */
  private async readKeys(path: string): Promise<IndexKey[]> {
    const kf = this.ops.keyFields();
    const cols = await readColumnsById(
      await this.ops.io.read(path),
      kf.map((k) => k.field.id),
      `data file ${path}`,
    );
    const n = cols[0]?.length ?? 0;
    const keys = new Array<IndexKey>(n);
    if (kf.length === 1 && isNumericKey(kf[0].primitive)) {
      // physical int32 (number) or int64 (bigint), also from files written before an int -> long widening
      const col = cols[0];
      for (let i = 0; i < n; i++) keys[i] = numericKey(col[i]);
    } else if (kf.length === 1) {
      const col = cols[0];
      for (let i = 0; i < n; i++) keys[i] = keyPartFromPhysical(kf[0].primitive, col[i]);
    } else for (let i = 0; i < n; i++) keys[i] = joinKey(kf.map((k, c) => keyPartFromPhysical(k.primitive, cols[c][i])));
    return keys;
  }

  /** Rebuilds the PK index from the current snapshot: key columns of data files + deletes. */
  async rebuild(): Promise<void> {
    const ops = this.ops;
    if (!ops.hasPrimaryKey) return;
    const index = this.newIndex();
    const snap = ops.currentSnapshot();
    if (snap) {
      const entries = await ops.liveEntries(snap);
      if (entries.some((e) => e.file.content === CONTENT_EQUALITY_DELETES)) {
        throw new ValidationError(`${ops.name} has equality delete files; the primary-key index supports position deletes only`);
      }
      const deleted = await deletedPositions(
        ops,
        entries.filter((e) => e.file.content === CONTENT_POSITION_DELETES),
        READ_CONCURRENCY,
      );
      const data = entries
        .filter((e) => e.file.content === CONTENT_DATA)
        .sort((a, b) => (a.dataSequenceNumber < b.dataSequenceNumber ? -1 : a.dataSequenceNumber > b.dataSequenceNumber ? 1 : 0));
      const keys = await mapLimit(data, READ_CONCURRENCY, (e) => this.readKeys(e.file.file_path));
      data.forEach((e, i) => index.addFile(e.file.file_path, { keys: keys[i], partition: e.file.partition, specId: e.specId }, deleted.get(e.file.file_path)));
    }
    this.index = index;
    this.snapshotId = snap ? BigInt(snap["snapshot-id"]) : null;
    ops.log.debug("primary-key index rebuilt", { rows: index.size, files: index.files.size });
  }

  /** Applies snapshots committed since the index was built (other writers' commits). */
  async catchUp(): Promise<void> {
    const ops = this.ops;
    if (!ops.hasPrimaryKey) return;
    if (!this.index) return this.rebuild();
    const current = ops.currentSnapshot();
    const target = current ? BigInt(current["snapshot-id"]) : null;
    if (target === this.snapshotId) return;
    const chain: Snapshot[] = [];
    let s = current;
    while (s && BigInt(s["snapshot-id"]) !== this.snapshotId) {
      chain.unshift(s);
      const parent = s["parent-snapshot-id"];
      s = parent === undefined || parent === null ? undefined : ops.metadata.snapshots.find((x) => BigInt(x["snapshot-id"]) === BigInt(parent));
    }
    if (!s && this.snapshotId !== null) return this.rebuild(); // history rewritten: start over
    for (const snap of chain) {
      const sid = BigInt(snap["snapshot-id"]);
      const manifests = (await readManifestList(ops.io, snap["manifest-list"])).filter((m) => BigInt(m.added_snapshot_id) === sid);
      const entries = (await Promise.all(manifests.map((m) => readManifest(ops.io, m)))).flat().filter((e) => e.snapshotId === sid);
      for (const e of entries) if (e.status === STATUS_DELETED && e.file.content === CONTENT_DATA) this.index.removeFile(e.file.file_path);
      const added = entries.filter((e) => e.status === STATUS_ADDED);
      if (added.some((e) => e.file.content === CONTENT_EQUALITY_DELETES)) return this.rebuild();
      for (const e of added.filter((x) => x.file.content === CONTENT_DATA)) {
        this.index.addFile(e.file.file_path, { keys: await this.readKeys(e.file.file_path), partition: e.file.partition, specId: e.specId });
      }
      for (const e of added.filter((x) => x.file.content === CONTENT_POSITION_DELETES)) {
        for (const d of await deleteFilesFor(ops).read(e)) this.index.deletePosition(d.path, d.pos);
      }
      this.snapshotId = sid;
    }
    this.snapshotId = target;
  }
}
