/**
 * The blue/green upgrade orchestrator: preflight, schema copy, forward replication, cutover behind
 * pgBouncer with a hard budget, reverse replication, rollback and cleanup. Decisions come from
 * plan.ts; this file only does the I/O, logs what it waits for, and persists its state.
 */
import { Client } from "pg";
import { EMIT_HANDOFF_SQL, Handoff } from "../cdc/handoff";
import { createLogger, Logger } from "../core/log";
import { schemaSnapshot, sequenceValues, serverFacts, userTables } from "./catalog";
import {
  applied,
  blocking,
  DbTarget,
  Finding,
  formatLsn,
  parseLsn,
  preflight,
  Progress,
  ql,
  qi,
  schemaDdl,
  sequenceSync,
  TableInfo,
  verifyMismatches,
  SchemaSnapshot,
  qn,
} from "./plan";
import { copyOwnership } from "./ownership";
import { connect, slotPosition, sleep, subscriptionProgress, targetFromUrl, using, verifyTables, waitCaughtUp } from "./replication";
import { PoolerControl } from "./pooler";
import { loadState, newState, Phase, record, saveState, UpgradeState } from "./state";

export interface UpgradeOptions {
  /** blue (old major) superuser URL, as the orchestrator reaches it */
  blueUrl: string;
  /** green (new major) superuser URL, as the orchestrator reaches it */
  greenUrl: string;
  /** how green reaches blue (the forward subscription's CONNECTION). Defaults to blueUrl. */
  blueUrlFromGreen?: string;
  /** how blue reaches green (the reverse subscription's CONNECTION). Defaults to greenUrl. */
  greenUrlFromBlue?: string;
  /** what the pooler's [databases] entry must point at after cutover. Defaults to greenUrl's host/port/database. */
  greenTarget?: DbTarget;
  pooler: PoolerControl;
  /** the [databases] entry name in the pooler. Defaults to the database name. */
  poolerDatabase?: string;
  statePath: string;
  /** base name of the replication objects. Defaults to floe_upgrade. */
  name?: string;
  /** hard budget for green to apply blue's final LSN while paused. Defaults to 1000 ms. */
  budgetMs?: number;
  /** longest wait for PAUSE to drain server connections. Defaults to 5000 ms. */
  pauseTimeoutMs?: number;
  /** query_wait_timeout (seconds) during the cutover. Defaults to 30. */
  raisedQueryWaitTimeout?: number;
  /** replication lag (bytes) under which the cutover may pause. Defaults to 1 MiB. */
  maxLagBytes?: number;
  /** longest wait for the initial copy and catch-up. Defaults to 1 hour. */
  catchUpTimeoutMs?: number;
  /** rows (highest primary keys) per table checksummed at verification. Defaults to 1000. */
  sampleRows?: number;
  /** tables estimated under this many rows get an exact count at verification. Defaults to 100000. */
  exactCountBelow?: number;
  /** findings (by object) accepted anyway */
  allow?: string[];
  log?: Logger;
  /**
   * The CDC writer's publication and slot on blue. When set, the same publication and a slot of the
   * same name are created on green before the pause, and the state file records the handoff
   * (`cdcHandoff`): the writer drains blue's slot up to blue's final LSN, then streams green's slot,
   * both with pgoutput's origin = none (what replication applied is not sent again). Defaults to none.
   */
  cdc?: { publication: string; slot: string };
  /**
   * Give green's objects blue's owners, grants and default privileges before each cutover (the
   * schema copy runs as the superuser, see ownership.ts). Defaults to true.
   */
  ownership?: boolean;
  /** test and bench hooks, called at phase boundaries */
  hooks?: { beforePause?: () => Promise<void> };
  signal?: AbortSignal;
}

export interface CutoverReport {
  ok: boolean;
  reason?: string;
  /** wall time the pooler was paused */
  pausedMs: number;
  waitMs: number;
  finalLsn: string;
  lagBytesAtAbort?: string;
  sequences: number;
  verifiedTables: number;
}

export class UpgradeAborted extends Error {
  constructor(
    message: string,
    readonly report: CutoverReport,
  ) {
    super(message);
  }
}

const sameTarget = (a: DbTarget | null, b: DbTarget | null) => !!a && !!b && a.host === b.host && a.port === b.port && a.dbname === b.dbname;

export class Upgrade {
  readonly o: Required<Omit<UpgradeOptions, "hooks" | "signal" | "greenTarget" | "blueUrlFromGreen" | "greenUrlFromBlue" | "poolerDatabase" | "log" | "cdc">> &
    UpgradeOptions;
  readonly log: Logger;
  readonly database: string;
  readonly poolerDb: string;
  readonly fwd: string;
  readonly rev: string;

  constructor(opts: UpgradeOptions) {
    this.o = {
      name: "floe_upgrade",
      budgetMs: 1000,
      pauseTimeoutMs: 5000,
      raisedQueryWaitTimeout: 30,
      maxLagBytes: 1 << 20,
      catchUpTimeoutMs: 3_600_000,
      sampleRows: 1000,
      exactCountBelow: 100_000,
      allow: [],
      ownership: true,
      ...(Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as UpgradeOptions),
    };
    if (!/^[a-z_][a-z0-9_]{0,40}$/.test(this.o.name)) throw new Error(`name "${this.o.name}" must be a lower-case SQL identifier of at most 41 characters`);
    if (!(this.o.budgetMs >= 0)) throw new Error(`budgetMs must be >= 0, got ${this.o.budgetMs}`);
    this.database = targetFromUrl(opts.blueUrl).dbname;
    this.poolerDb = opts.poolerDatabase ?? this.database;
    this.fwd = this.o.name;
    this.rev = `${this.o.name}_rev`;
    this.log = (opts.log ?? createLogger()).child({ upgrade: this.o.name, database: this.database });
  }

  /**
   * Where the pooler points after the cutover. Never with greenUrl's user: that is the
   * orchestrator's superuser, and a `user=` in the entry would make every pooled client log in as
   * it (pgBouncer 1.18 also crashes on the next new pool after a RELOAD that adds `user=`).
   */
  private greenTarget(): DbTarget {
    if (this.o.greenTarget) return this.o.greenTarget;
    const { host, port, dbname } = targetFromUrl(this.o.greenUrl);
    return { host, port, dbname };
  }

  // ------------------------------------------------------------ state & recovery

  /** Load (or create) the state; a pooler left paused by a crashed run is resumed first. */
  async recover(): Promise<UpgradeState> {
    let s = loadState(this.o.statePath);
    if (!s) {
      s = newState({ name: this.o.name, database: this.database, poolerDatabase: this.poolerDb, greenTarget: this.greenTarget() });
      saveState(this.o.statePath, s);
      return s;
    }
    if (s.phase === "cutover" || s.phase === "rollback") {
      this.log.warn("a previous run stopped during a switchover: resuming the pooler first", { phase: s.phase });
      await this.o.pooler.resume(s.poolerDatabase);
      if (s.savedQueryWaitTimeout !== null) await this.o.pooler.setQueryWaitTimeout(s.savedQueryWaitTimeout);
      const now = await this.o.pooler.target(s.poolerDatabase);
      const onGreen = sameTarget(now, s.greenTarget);
      s.savedQueryWaitTimeout = null;
      if (s.phase === "cutover") {
        if (onGreen) {
          record(this.o.statePath, s, "cutover", "recovered: the pooler already points at green; finishing the cutover");
          await this.finishCutover(s);
        } else {
          s.lastAbort = { at: new Date().toISOString(), reason: "the orchestrator stopped during the cutover; blue stayed primary" };
          record(this.o.statePath, s, "replicating", "recovered: resumed on blue");
        }
      } else if (onGreen) {
        record(this.o.statePath, s, "upgraded", "recovered: resumed on green, the rollback did not switch");
      } else {
        await this.finishRollback(s);
      }
    }
    return s;
  }

  // ------------------------------------------------------------ preflight

  async preflight(): Promise<{ findings: Finding[]; snapshot: SchemaSnapshot; blueMajor: number; greenMajor: number }> {
    const [blue, snap] = await using(this.o.blueUrl, async (c) => [await serverFacts(c), await schemaSnapshot(c)] as const);
    const green = await using(this.o.greenUrl, (c) => serverFacts(c));
    const findings = preflight(blue, snap, green);
    return { findings, snapshot: snap, blueMajor: blue.major, greenMajor: green.major };
  }

  // ------------------------------------------------------------ run

  /** The whole upgrade, resumable: schema, replication, catch-up, cutover, reverse replication. */
  async run(): Promise<CutoverReport | null> {
    const s = await this.recover();
    if (s.phase === "upgraded") {
      this.log.info("already upgraded: green is primary");
      return null;
    }
    if (s.phase === "rolled-back" || s.phase === "cleaned")
      throw new Error(`the upgrade is ${s.phase}: run "floe upgrade cleanup" and start over with a fresh state file and an empty green`);
    if (s.phase === "planned") await this.setup(s);
    if (s.phase === "schema-copied") await this.startReplication(s);
    await waitCaughtUp(this.o.blueUrl, this.o.greenUrl, this.fwd, "forward", { ...this.o, log: this.log });
    return this.cutover(s);
  }

  private async setup(s: UpgradeState): Promise<void> {
    const pf = await this.preflight();
    const bad = blocking(pf.findings, this.o.allow);
    for (const f of pf.findings) this.log[f.severity === "error" ? "error" : "warn"]("preflight", { ...f });
    if (bad.length) throw new Error(`preflight found ${bad.length} blocking problem(s): ${bad.map((f) => `${f.object}: ${f.message}`).join("; ")}`);
    const existing = await using(this.o.greenUrl, (c) => userTables(c));
    if (existing.length)
      throw new Error(
        `green database "${targetFromUrl(this.o.greenUrl).dbname}" is not empty (${existing.slice(0, 5).join(", ")}): the upgrade copies the schema into an empty database`,
      );
    const ddl = schemaDdl(pf.snapshot);
    await using(this.o.greenUrl, async (c) => {
      await c.query("BEGIN");
      try {
        for (const stmt of ddl) await c.query(stmt);
        await c.query("COMMIT");
      } catch (e) {
        await c.query("ROLLBACK").catch(() => undefined);
        throw new Error(`creating the schema on green failed: ${(e as Error).message}`);
      }
    });
    await this.carryOwnership(); // now, while nothing writes to green yet
    s.blueTarget = await this.o.pooler.target(this.poolerDb);
    s.blueMajor = pf.blueMajor;
    s.greenMajor = pf.greenMajor;
    s.tables = pf.snapshot.tables.map((t) => qn(t.schema, t.name));
    record(this.o.statePath, s, "schema-copied", `created ${ddl.length} schema objects on green`, { tables: s.tables.length });
  }

  private async startReplication(s: UpgradeState): Promise<void> {
    const origin = (s.blueMajor ?? 0) >= 16 ? ", origin = 'none'" : "";
    await using(this.o.blueUrl, async (c) => {
      await c.query(`DROP PUBLICATION IF EXISTS ${qi(this.fwd)}`);
      await c.query(`CREATE PUBLICATION ${qi(this.fwd)} FOR TABLE ${s.tables.join(", ")}`);
    });
    this.log.info("creating the subscription on green: its slot on blue waits for the transactions open on blue to finish");
    await using(this.o.greenUrl, (c) =>
      c.query(
        `CREATE SUBSCRIPTION ${qi(this.fwd)} CONNECTION ${ql(this.o.blueUrlFromGreen ?? this.o.blueUrl)} PUBLICATION ${qi(this.fwd)} ` +
          `WITH (copy_data = true, synchronous_commit = 'on'${origin})`,
      ),
    );
    record(this.o.statePath, s, "replicating", "publication on blue, subscription on green: initial copy started");
  }

  // ------------------------------------------------------------ switchover (cutover and rollback)

  /**
   * Pause the pooler, wait (within the budget) until `toUrl` has applied `fromUrl`'s final LSN
   * through `slot`, sync sequences, verify, repoint, resume. On any failure before the repoint:
   * resume on `from`, and throw UpgradeAborted with the reason.
   */
  private async switchover(
    s: UpgradeState,
    kind: "cutover" | "rollback",
    fromUrl: string,
    toUrl: string,
    slot: string,
    to: DbTarget,
    beforeResume?: () => Promise<void>,
  ): Promise<CutoverReport> {
    const back: Phase = kind === "cutover" ? "replicating" : "upgraded";
    const pooler = this.o.pooler;
    const from = await connect(fromUrl);
    const dest = await connect(toUrl);
    const report: CutoverReport = { ok: false, pausedMs: 0, waitMs: 0, finalLsn: "", sequences: 0, verifiedTables: 0 };
    let paused = false;
    let pausedAt = 0;
    try {
      await this.o.hooks?.beforePause?.();
      s.savedQueryWaitTimeout = await pooler.getQueryWaitTimeout();
      s.switches = (s.switches ?? 0) + 1; // numbers this switchover's CDC handoff, also when a recovered run finishes it
      record(this.o.statePath, s, kind, `${kind}: raising query_wait_timeout and pausing the pooler`, { savedQueryWaitTimeout: s.savedQueryWaitTimeout });
      await pooler.setQueryWaitTimeout(Math.max(this.o.raisedQueryWaitTimeout, s.savedQueryWaitTimeout));
      pausedAt = Date.now();
      paused = true;
      await pooler.pause(this.poolerDb, this.o.pauseTimeoutMs);
      const final = (await from.query("SELECT pg_current_wal_lsn()::text AS l")).rows[0].l as string;
      report.finalLsn = final;
      const finalLsn = parseLsn(final);
      const waitStart = Date.now();
      let pos = await slotPosition(from, slot);
      while (!applied(finalLsn, pos.flushed)) {
        if (Date.now() - waitStart >= this.o.budgetMs) {
          report.lagBytesAtAbort = (pos.flushed === null ? finalLsn : finalLsn - pos.flushed).toString();
          throw new Error(
            `budget exceeded: green had not applied blue's final LSN ${final} after ${this.o.budgetMs} ms ` +
              `(applied up to ${pos.flushed === null ? "nothing" : formatLsn(pos.flushed)}, ${report.lagBytesAtAbort} bytes behind)`,
          );
        }
        await sleep(2);
        pos = await slotPosition(from, slot);
      }
      report.waitMs = Date.now() - waitStart;
      const seqs = sequenceSync(await sequenceValues(from));
      if (seqs.length) await dest.query(seqs.join(";\n"));
      report.sequences = seqs.length;
      const checks = await verifyTables(from, dest, s.tables, this.o);
      report.verifiedTables = checks.length;
      const bad = verifyMismatches(checks);
      if (bad.length) throw new Error(`verification failed: ${bad.join("; ")}`);
      if (beforeResume) await beforeResume();
      await pooler.repoint(this.poolerDb, to);
      await pooler.resume(this.poolerDb);
      paused = false;
      report.pausedMs = Date.now() - pausedAt;
      report.ok = true;
      await pooler.setQueryWaitTimeout(s.savedQueryWaitTimeout!);
      s.savedQueryWaitTimeout = null;
      s.lastCutover = {
        kind,
        pausedMs: report.pausedMs,
        waitMs: report.waitMs,
        finalLsn: report.finalLsn,
        sequences: report.sequences,
        verifiedTables: report.verifiedTables,
        at: new Date().toISOString(),
      };
      saveState(this.o.statePath, s);
      this.log.info(`${kind}: switched`, { ...report });
      return report;
    } catch (e) {
      report.reason = (e as Error).message;
      if (paused) {
        await pooler.resume(this.poolerDb).catch((re) => this.log.error("RESUME failed", { error: re }));
        report.pausedMs = Date.now() - pausedAt;
      }
      if (s.savedQueryWaitTimeout !== null) {
        await pooler.setQueryWaitTimeout(s.savedQueryWaitTimeout).catch(() => undefined);
        s.savedQueryWaitTimeout = null;
      }
      s.lastAbort = { at: new Date().toISOString(), reason: report.reason };
      record(this.o.statePath, s, back, `${kind} aborted, resumed on the old primary: ${report.reason}`, { pausedMs: report.pausedMs });
      throw new UpgradeAborted(`${kind} aborted (the pooler resumed on the old primary after ${report.pausedMs} ms): ${report.reason}`, report);
    } finally {
      await from.end().catch(() => undefined);
      await dest.end().catch(() => undefined);
    }
  }

  private async cutover(s: UpgradeState): Promise<CutoverReport> {
    // Reverse replication's slot on green, before the pause: with origin = none, what the forward
    // subscription applies is not sent back, and every client write after RESUME is.
    const earlySlot = (s.blueMajor ?? 0) >= 16;
    await using(this.o.greenUrl, async (c) => {
      await c.query(`DROP PUBLICATION IF EXISTS ${qi(this.rev)}`);
      await c.query(`CREATE PUBLICATION ${qi(this.rev)} FOR TABLE ${s.tables.join(", ")}`);
      if (earlySlot) await this.ensureSlot(c, this.rev);
    });
    await this.carryOwnership(); // again: roles made on green since setup, and anything changed on blue
    const cdc = this.o.cdc;
    if (cdc) {
      if (!earlySlot) throw new Error(`the CDC handoff needs blue on Postgres 16 or newer (pgoutput's origin option); blue is ${s.blueMajor}`);
      await this.prepareCdc(cdc);
      // Recorded before the pause: a run that stops after the switch still writes the handoff on recovery.
      s.cdcHandoff = { publication: cdc.publication, slot: cdc.slot, blueFinalLsn: "", origin: "none" };
      saveState(this.o.statePath, s);
    }
    const report = await this.switchover(
      s,
      "cutover",
      this.o.blueUrl,
      this.o.greenUrl,
      this.fwd,
      s.greenTarget,
      earlySlot ? undefined : () => using(this.o.greenUrl, (c) => this.ensureSlot(c, this.rev)),
    );
    if (cdc) {
      s.cdcHandoff = { publication: cdc.publication, slot: cdc.slot, blueFinalLsn: report.finalLsn, origin: "none" };
      saveState(this.o.statePath, s);
    }
    await this.finishCutover(s);
    return report;
  }

  private async carryOwnership(): Promise<void> {
    if (!this.o.ownership) return;
    const r = await copyOwnership(this.o.blueUrl, this.o.greenUrl);
    this.log.info("gave green blue's owners and privileges", { statements: r.statements });
    for (const skipped of r.skipped) this.log.warn(`not carried to green: ${skipped}`);
  }

  /** The CDC writer's publication and slot on green, before the pause (see UpgradeOptions.cdc). */
  private async prepareCdc(cdc: { publication: string; slot: string }): Promise<void> {
    const pub = await using(this.o.blueUrl, async (c) => {
      const p = await c.query(`SELECT puballtables FROM pg_publication WHERE pubname = $1`, [cdc.publication]);
      if (!p.rowCount) throw new Error(`blue has no publication "${cdc.publication}" (--cdc-publication): is the CDC writer set up?`);
      const slot = await c.query(`SELECT plugin FROM pg_replication_slots WHERE slot_name = $1`, [cdc.slot]);
      if (!slot.rowCount) throw new Error(`blue has no replication slot "${cdc.slot}" (--cdc-slot)`);
      const tables = await c.query(`SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1`, [
        cdc.publication,
      ]);
      return { all: p.rows[0].puballtables as boolean, tables: tables.rows.map((r) => r.t as string) };
    });
    await using(this.o.greenUrl, async (c) => {
      if (!(await c.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [cdc.publication])).rowCount) {
        await c.query(`CREATE PUBLICATION ${qi(cdc.publication)} ${pub.all ? "FOR ALL TABLES" : `FOR TABLE ${pub.tables.join(", ")}`}`);
      }
      await this.ensureSlot(c, cdc.slot);
    });
    this.log.info("CDC handoff prepared on green", { publication: cdc.publication, slot: cdc.slot });
  }

  private async ensureSlot(c: Client, slot: string): Promise<void> {
    const r = await c.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
    if (!r.rowCount) await c.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  }

  /**
   * The CDC writer's cue (runtime/cdc/handoff.ts): a transactional message on the old primary, after
   * the pooler switched, so it follows every change the writer must read there. Written once per
   * switchover; a recovered run may write it again, and the writer ignores the repeat.
   */
  private async sendHandoff(s: UpgradeState, kind: Handoff["kind"], oldUrl: string, to: DbTarget): Promise<void> {
    const cdc = s.cdcHandoff;
    const seq = s.switches ?? 0;
    if (!cdc || seq < 1 || (s.handoffSent?.seq ?? 0) >= seq) return;
    const h: Handoff = {
      version: 1,
      upgrade: s.id ?? s.name,
      seq,
      kind,
      to: { host: to.host, port: to.port, dbname: to.dbname },
      slot: cdc.slot,
      publication: cdc.publication,
    };
    const lsn = await using(oldUrl, async (c) => (await c.query(EMIT_HANDOFF_SQL, [JSON.stringify(h)])).rows[0].lsn as string);
    s.handoffSent = { seq, lsn, on: kind === "cutover" ? "blue" : "green" };
    saveState(this.o.statePath, s);
    this.log.info("CDC handoff written: the writer moves to the new primary when it reads it", { kind, to: h.to, slot: cdc.slot, seq });
  }

  /** After RESUME on green: tell the CDC writer, stop forward replication, start reverse replication (blue <- green). */
  private async finishCutover(s: UpgradeState): Promise<void> {
    await this.sendHandoff(s, "cutover", this.o.blueUrl, s.greenTarget);
    await using(this.o.greenUrl, async (c) => {
      const r = await c.query(`SELECT 1 FROM pg_subscription WHERE subname = $1`, [this.fwd]);
      if (r.rowCount) {
        await c.query(`ALTER SUBSCRIPTION ${qi(this.fwd)} DISABLE`);
        await c.query(`DROP SUBSCRIPTION ${qi(this.fwd)}`);
      }
      await this.ensureSlot(c, this.rev);
    });
    const origin = (s.blueMajor ?? 0) >= 16 ? ", origin = 'none'" : "";
    await using(this.o.blueUrl, async (c) => {
      const r = await c.query(`SELECT 1 FROM pg_subscription WHERE subname = $1`, [this.rev]);
      if (!r.rowCount) {
        await c.query(
          `CREATE SUBSCRIPTION ${qi(this.rev)} CONNECTION ${ql(this.o.greenUrlFromBlue ?? this.o.greenUrl)} PUBLICATION ${qi(this.rev)} ` +
            `WITH (create_slot = false, slot_name = ${ql(this.rev)}, copy_data = false, synchronous_commit = 'on'${origin})`,
        );
      }
      await c.query(`DROP PUBLICATION IF EXISTS ${qi(this.fwd)}`);
    });
    record(this.o.statePath, s, "upgraded", "green is primary; reverse replication blue <- green keeps rollback possible");
  }

  // ------------------------------------------------------------ rollback, status, cleanup

  async rollback(): Promise<CutoverReport | null> {
    const s = await this.recover();
    if (s.phase === "rolled-back") return null;
    if (s.phase !== "upgraded") throw new Error(`nothing to roll back: the upgrade is "${s.phase}" (rollback needs a finished cutover)`);
    if (!s.blueTarget) throw new Error("the state file does not say where the pooler pointed before the upgrade");
    await waitCaughtUp(this.o.greenUrl, this.o.blueUrl, this.rev, "reverse", { ...this.o, log: this.log });
    const report = await this.switchover(s, "rollback", this.o.greenUrl, this.o.blueUrl, this.rev, s.blueTarget);
    await this.finishRollback(s);
    return report;
  }

  private async finishRollback(s: UpgradeState): Promise<void> {
    if (s.blueTarget) await this.sendHandoff(s, "rollback", this.o.greenUrl, s.blueTarget);
    await using(this.o.blueUrl, async (c) => {
      const r = await c.query(`SELECT 1 FROM pg_subscription WHERE subname = $1`, [this.rev]);
      if (r.rowCount) {
        await c.query(`ALTER SUBSCRIPTION ${qi(this.rev)} DISABLE`);
        await c.query(`DROP SUBSCRIPTION ${qi(this.rev)}`);
      }
    });
    record(this.o.statePath, s, "rolled-back", "blue is primary again; green is no longer replicated to");
  }

  async status(): Promise<{ state: UpgradeState | null; pooler?: { target: DbTarget; paused: boolean }; progress?: Progress }> {
    const state = loadState(this.o.statePath);
    if (!state) return { state };
    const target = await this.o.pooler.target(state.poolerDatabase);
    const paused = (await this.o.pooler.paused()).includes(state.poolerDatabase);
    let p: Progress | undefined;
    if (state.phase === "replicating") p = await subscriptionProgress(this.o.blueUrl, this.o.greenUrl, this.fwd, this.o.maxLagBytes);
    if (state.phase === "upgraded") p = await subscriptionProgress(this.o.greenUrl, this.o.blueUrl, this.rev, this.o.maxLagBytes);
    return { state, pooler: { target, paused }, progress: p };
  }

  /**
   * The CDC writer's slot on the server it moved away from holds that server's WAL. It goes once the
   * writer has confirmed past the handoff message there (else the writer has not switched yet, and
   * the slot still holds changes it must read).
   */
  private async dropFollowedSlot(s: UpgradeState): Promise<void> {
    const sent = s.handoffSent;
    const slot = s.cdcHandoff?.slot;
    if (!sent || !slot) return;
    const primaryNow = s.phase === "rolled-back" ? "blue" : "green";
    if (sent.on === primaryNow) return;
    const url = sent.on === "blue" ? this.o.blueUrl : this.o.greenUrl;
    await using(url, async (c) => {
      const r = await c.query(`SELECT active_pid, confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
      if (!r.rowCount) return;
      const { active_pid: pid, lsn } = r.rows[0];
      if (pid || !lsn || parseLsn(lsn) <= parseLsn(sent.lsn)) {
        this.log.warn(`kept the CDC writer's slot ${slot} on ${sent.on}: the writer has not moved past the handoff yet; run cleanup again once it has`, {
          confirmed: lsn,
          handoff: sent.lsn,
        });
        return;
      }
      await c.query(`SELECT pg_drop_replication_slot($1)`, [slot]);
      this.log.info(`dropped the CDC writer's slot ${slot} on ${sent.on}: the writer reads the new primary`);
    });
  }

  /** Drop every replication object the upgrade created, on both sides. Servers and data stay. */
  async cleanup(): Promise<void> {
    const s = await this.recover();
    const dropSubs = async (url: string) =>
      using(url, async (c) => {
        for (const sub of [this.fwd, this.rev]) {
          if ((await c.query(`SELECT 1 FROM pg_subscription WHERE subname = $1`, [sub])).rowCount) {
            await c.query(`ALTER SUBSCRIPTION ${qi(sub)} DISABLE`);
            await c.query(`DROP SUBSCRIPTION ${qi(sub)}`);
          }
        }
      });
    const dropPubs = async (url: string) =>
      using(url, async (c) => {
        for (const name of [this.fwd, this.rev]) {
          await c.query(`DROP PUBLICATION IF EXISTS ${qi(name)}`);
          const slot = await c.query(`SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1`, [name]);
          if (slot.rowCount) {
            if (slot.rows[0].active_pid) await c.query(`SELECT pg_terminate_backend($1)`, [slot.rows[0].active_pid]);
            await c.query(`SELECT pg_drop_replication_slot($1)`, [name]).catch(() => undefined);
          }
        }
      });
    await dropSubs(this.o.greenUrl);
    await dropSubs(this.o.blueUrl);
    await dropPubs(this.o.blueUrl);
    await dropPubs(this.o.greenUrl);
    await this.dropFollowedSlot(s);
    record(this.o.statePath, s, "cleaned", "replication objects dropped on blue and green");
  }
}

export type { TableInfo };
