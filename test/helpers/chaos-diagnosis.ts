/**
 * What the chaos run (test/helpers/chaos.ts) prints when a change is lost or duplicated, so that
 * one failing run (in CI too) says where it happened: for each counter value in question, the
 * source transaction that made it (xid, and its commit LSN as the events changelog recorded it),
 * the neighbouring values' rows in the counters changelog (read with floe's own reader as well as
 * chdb's), the counters table's retained snapshots (operation, floe.lsn, added rows), and from
 * every writer's debug log (spawnWriter's logDir) the lines about that transaction and the
 * counters commits and faults around it.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Table } from "../../runtime/iceberg";
import type { CdcBed, KillReport, Workload } from "./cdc";
import { readTable } from "./iceberg-read";

interface LogLine {
  file: string;
  ts: number;
  line: string;
  rec: Record<string, unknown>;
}

function readLogs(dir: string): LogLine[] {
  const out: LogLine[] = [];
  if (!existsSync(dir)) return out;
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".log"))) {
    for (const line of readFileSync(join(dir, file), "utf8").split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        const rec = JSON.parse(line) as Record<string, unknown>;
        out.push({ file, ts: Date.parse(String(rec.ts)), line, rec });
      } catch {
        /* a line cut by the kill */
      }
    }
  }
  return out.sort((a, b) => a.ts - b.ts);
}

/** Rows of a changelog table with the given columns, read by floe's reader from the catalog's current metadata. */
async function changelogRows(bed: CdcBed, target: string, columns: string[]): Promise<Record<string, unknown>[]> {
  const t = await Table.load(await bed.sharedCatalog(), { namespace: ["floe"], name: target });
  const fields = columns.map((c) => t.schema().fields.find((f) => f.name === c)!);
  const rows = await readTable(
    t,
    fields.map((f) => f.id),
    { bytesAsText: true },
  );
  return rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, typeof r[i] === "bigint" ? String(r[i]) : r[i]])));
}

/** The diagnosis as text lines (also written to `<logDir>/diagnosis.json`). */
export async function diagnoseChanges(
  bed: CdcBed,
  load: Workload,
  suspects: string[],
  kills: KillReport | undefined,
  logDir: string | undefined,
): Promise<string[]> {
  const out: string[] = [];
  const full: Record<string, unknown> = { suspects, kills: kills?.detail, windows: {} };
  const values = suspects
    .map((s) => /^counters (\d+):(\d+)/.exec(s))
    .filter((m): m is RegExpExecArray => m !== null)
    .slice(0, 3)
    .map((m) => ({ client: Number(m[1]), n: Number(m[2]) }));
  let counters: Record<string, unknown>[] = [];
  let events: Record<string, unknown>[] = [];
  try {
    counters = await changelogRows(bed, "counters", ["client", "n", "_op", "_lsn", "_xid"]);
    events = await changelogRows(bed, "events", ["id", "_op", "_lsn", "_xid"]);
  } catch (e) {
    out.push(`diagnosis: reading the changelogs with floe's reader failed: ${(e as Error).message}`);
  }
  const logs = logDir ? readLogs(logDir) : [];
  const t = await Table.load(await bed.sharedCatalog(), { namespace: ["floe"], name: "counters" }).catch(() => undefined);
  const snapshots = (t?.metadata.snapshots ?? []).map((s) => ({
    id: String(s["snapshot-id"]),
    parent: s["parent-snapshot-id"] === undefined ? null : String(s["parent-snapshot-id"]),
    at: new Date(s["timestamp-ms"]).toISOString(),
    operation: s.summary.operation,
    lsn: s.summary["floe.lsn.pg"],
    added: s.summary["added-records"],
    total: s.summary["total-records"],
  }));
  full.countersSnapshots = snapshots;
  for (const { client, n } of values) {
    const txn = load.transaction(client, n);
    const around = counters.filter((r) => Number(r.client) === client && Math.abs(Number(r.n) - n) <= 2).sort((a, b) => Number(a.n) - Number(b.n));
    const ev = txn ? events.filter((r) => String(r._xid) === txn.xid) : [];
    const commitLsn = ev[0]?._lsn as string | undefined;
    out.push(
      `diagnosis counters ${client}:${n}: source xid ${txn?.xid ?? "?"} (WAL insert position before its COMMIT ${txn?.lsnBefore ?? "?"}); ` +
        `its events rows ${ev.length ? ev.map((r) => `${r.id}@${r._lsn}`).join(", ") : "none"}; ` +
        `counters rows of client ${client} near it (floe's reader, ${counters.length} counters rows and ${events.length} events rows in all): ` +
        `${around.map((r) => `${r.n}/${r._op}@${r._lsn} xid ${r._xid}`).join(", ") || "none"}`,
    );
    const mine = txn ? logs.filter((l) => l.rec.msg === "transaction" && String(l.rec.xid) === txn.xid) : [];
    // its commit LSN: as the events changelog recorded it, else as a writer read it
    const seen = commitLsn ?? (mine[0]?.rec.commitLsn as string | undefined);
    const lsn = seen ? BigInt(seen) : undefined;
    // the copy's boundary (snapshot.ts copiedThrough): a transaction committed at the consistent point of the slot the table was copied at
    const copy = counters.find((r) => Number(r.client) === client && r._op === "R");
    if (copy && lsn !== undefined && BigInt(String(copy._lsn)) === lsn)
      out.push(`  its commit LSN is the consistent point of the counters copy (copy row ${copy.n}/R@${copy._lsn}): the copy's boundary`);
    for (const l of mine) out.push(`  ${l.file}: ${l.line}`);
    // the counters commits, faults and restarts around that transaction's first and last sighting
    if (mine.length) {
      const from = mine[0].ts - 2000;
      const to = mine[mine.length - 1].ts + 5000;
      const window = logs.filter((l) => l.ts >= from && l.ts <= to);
      (full.windows as Record<string, string[]>)[`${client}:${n}`] = window.map((l) => `${l.file}: ${l.line}`);
      const stateLsn = (l: LogLine) => {
        const v = (l.rec.state as Record<string, string> | undefined)?.["floe.lsn.pg"];
        return v === undefined ? undefined : BigInt(v);
      };
      for (const file of new Set(mine.map((l) => l.file))) {
        const commits = window.filter((l) => l.file === file && l.rec.msg === "committed" && String(l.rec.table ?? "").endsWith("counters"));
        const before = lsn === undefined ? undefined : commits.filter((l) => (stateLsn(l) ?? -1n) < lsn).pop();
        const after = lsn === undefined ? undefined : commits.find((l) => (stateLsn(l) ?? -1n) >= lsn);
        for (const l of window) {
          if (l.file !== file) continue;
          const m = String(l.rec.msg);
          const show =
            l === before ||
            l === after ||
            (l.rec.msg === "committed" && l.rec.op !== "write" && String(l.rec.table ?? "").endsWith("counters")) ||
            (String(l.rec.table ?? "").endsWith("counters") && m.startsWith("commit")) ||
            (m === "confirmed" && l.rec.by === "keepalive") ||
            m === "stream starts" ||
            l.rec.level === "warn" ||
            l.rec.level === "error";
          if (show && !mine.includes(l)) out.push(`  ${file}: ${l.line}`);
        }
      }
    }
    if (lsn !== undefined) {
      const covering = snapshots.filter((s) => s.lsn !== undefined && BigInt(s.lsn) >= lsn);
      out.push(`  retained counters snapshots with floe.lsn >= its commit LSN ${lsn}: ${covering.length} of ${snapshots.length}`);
    }
  }
  full.lines = out;
  if (logDir) writeFileSync(join(logDir, "diagnosis.json"), JSON.stringify(full, null, 2));
  return out;
}
