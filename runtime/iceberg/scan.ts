/**
 * Reading a table's live rows back: every live data file of the current snapshot, its deleted
 * positions (position delete files or deletion vectors) skipped, as canonical JS values (index.ts)
 * of the given fields, found by field id. A field a file does not have (added after the file was
 * written) reads as its initial-default (v3), else null, as the spec defines. One batch per data
 * file, so memory holds one file's rows at a time.
 */
import { initialDefault } from "./defaults";
import { deleteKey, deleteTargets, snapshotFiles } from "./live-files";
import { readColumnsByIdOptional } from "./parquet";
import type { NestedField } from "./spec";
import type { Row, TableOps } from "./table-ops";
import { canonicalFromPhysical } from "./values";

/** The table's live rows as of its current snapshot, with the columns of `fields` (by name), one batch per data file. */
export async function* liveRows(ops: TableOps, fields: readonly NestedField[] = ops.schema().fields): AsyncGenerator<Row[]> {
  const snapshot = ops.currentSnapshot();
  if (!snapshot) return;
  const files = await snapshotFiles(ops, snapshot);
  const targets = await deleteTargets(ops, files.deletes);
  const deleted = new Map<string, Set<number>>();
  for (const e of files.deletes) {
    for (const l of targets.get(deleteKey(e.file)) ?? []) {
      let s = deleted.get(l.path);
      if (!s) deleted.set(l.path, (s = new Set()));
      s.add(l.pos);
    }
  }
  const fills = fields.map(initialDefault);
  const ids = fields.map((f) => f.id);
  for (const e of files.data) {
    const n = Number(e.file.record_count);
    const gone = deleted.get(e.file.file_path);
    if (gone && gone.size >= n) continue;
    const read = await readColumnsByIdOptional(await ops.io.read(e.file.file_path), ids, `data file ${e.file.file_path}`);
    const rows: Row[] = [];
    for (let i = 0; i < n; i++) {
      if (gone?.has(i)) continue;
      const row: Row = {};
      for (let c = 0; c < fields.length; c++) {
        const col = read[c];
        row[fields[c].name] = col ? canonicalFromPhysical(fields[c].type, col[i]) : fills[c];
      }
      rows.push(row);
    }
    yield rows;
  }
}
