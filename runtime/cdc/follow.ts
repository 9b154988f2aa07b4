/**
 * The CDC writer following a blue/green upgrade: a handoff message (runtime/cdc/handoff.ts) read on
 * the old primary moves a source to the new primary's slot, with no gap and no duplicate.
 *
 * The switch is recorded in every Iceberg table (`floe.follow.<source>`: the new server, slot,
 * generation, and the position it left each earlier server at), so a restarted writer reads the
 * newest record and goes on from the server it followed to; a rollback to a server left before
 * never starts before its handoff there. The old slot is confirmed past the handoff only once the
 * record is committed: a crash in between leaves the record or the message to read again, and a
 * slot a crash left behind is advanced on the next start.
 */
import type { Logger } from "../core/log";
import { NoSuchNamespaceError, TableIdentifier } from "../iceberg/catalog";
import { stateSnapshot } from "../iceberg/metadata";
import type { CdcConfig, CdcSource } from "./config";
import { FollowRecord, followKey, generationKey, Handoff, isNewer, parseFollowRecord, retarget, serverId } from "./handoff";
import { formatLsn, parseLsn } from "./lsn";
import { cdcMetrics } from "./metrics";
import { ReplicationSource } from "./source";
import { lsnSummary, WriterDeps, WriterStatus } from "./state";
import type { Tables } from "./tables";

/** What following a handoff asks of the pipeline (runtime/cdc/writer.ts). */
export interface FollowPipeline {
  /** Commits every pending table, then confirms the slots of the sources in the batch. */
  flush(): Promise<void>;
  /** Takes a source out of the batch: the next flush does not confirm its slot. */
  unbatch(source: string): void;
  /** Reads the source from `next` instead of `old`; what was read from `old` and not committed is forgotten. */
  switchSource(old: ReplicationSource, next: ReplicationSource): Promise<void>;
  /** Publication, tables, slot and initial copy on a server; returns where its stream starts. */
  prepareSource(src: ReplicationSource): Promise<bigint>;
  startStream(src: ReplicationSource, from: bigint): Promise<void>;
}

export class Upgrades {
  /** Per source name: the last upgrade handoff it followed. */
  private readonly follows = new Map<string, FollowRecord>();

  constructor(
    private readonly config: CdcConfig,
    private readonly deps: WriterDeps,
    private readonly tables: Tables,
    private readonly status: WriterStatus,
  ) {}

  private get log(): Logger {
    return this.deps.log;
  }

  /** The configured source a server belongs to. */
  private configOf(src: ReplicationSource): CdcSource {
    return this.config.sources.find((s) => s.name === src.name)!;
  }

  /** The server a source follows to: same user and password, the new primary's host, port, database, slot. */
  private followedSource(base: CdcSource, rec: FollowRecord): ReplicationSource {
    const config: CdcSource = {
      ...base,
      connectionString: retarget(base.connectionString, rec.to),
      slot: rec.slot,
      publication: rec.publication,
      origin: "none",
      initialCopy: false,
    };
    return new ReplicationSource(
      config,
      this.deps.log.child({ source: base.name, follows: `${rec.to.host}:${rec.to.port}/${rec.to.dbname}` }),
      generationKey(base.name, rec.generation),
    );
  }

  /**
   * On start: a source that followed an upgrade before goes on from where it followed to. `sources`
   * holds the server of each configured source (same order); those that followed are replaced.
   */
  async resolve(sources: ReplicationSource[]): Promise<void> {
    let ids: TableIdentifier[] = [];
    try {
      ids = await this.deps.catalog.listTables([this.config.namespace]);
    } catch (e) {
      if (!(e instanceof NoSuchNamespaceError)) throw e;
    }
    const summaries = await Promise.all(
      ids.map(async (id): Promise<Record<string, string>> => stateSnapshot((await this.deps.catalog.loadTable(id)).metadata)?.summary ?? {}),
    );
    this.config.sources.forEach((base, i) => {
      let last: FollowRecord | undefined;
      for (const summary of summaries) {
        const rec = parseFollowRecord(summary[followKey(base.name)]);
        if (rec && (!last || rec.generation > last.generation)) last = rec;
      }
      if (!last) return;
      this.follows.set(base.name, last);
      sources[i] = this.followedSource(base, last);
      this.status.sources[base.name] = {
        ...this.status.sources[base.name],
        server: `${last.to.host}:${last.to.port}/${last.to.dbname}`,
        generation: last.generation,
      };
      this.log.info("source follows an earlier upgrade handoff", { source: base.name, to: last.to, slot: last.slot, generation: last.generation });
    });
  }

  /** Writes each source's follow record into the tables that lack it (a crash cut the last switch short). */
  async record(): Promise<void> {
    for (const [name, rec] of this.follows) {
      for (const state of this.tables.values()) {
        if (parseFollowRecord(state.table.summaryProperty(followKey(name)))?.generation === rec.generation) continue;
        await state.table
          .newWrite()
          .setSummary({ ...lsnSummary(state), [followKey(name)]: JSON.stringify(rec) })
          .commit();
      }
    }
  }

  /** Where a source's stream starts: back on a server it left before (a rollback), never before its handoff there. */
  notBeforeHandoff(src: ReplicationSource, position: bigint): bigint {
    const floor = this.follows.get(src.name)?.left[serverId(src.config.connectionString, src.slot)];
    if (src.key !== src.name && floor !== undefined && BigInt(floor) > position) return BigInt(floor);
    return position;
  }

  /**
   * A crash between recording a handoff and confirming the old slot past it leaves that slot
   * behind the handoff, holding WAL that nothing will read (and `floe upgrade cleanup` waiting).
   * On start, such a slot is advanced to where the source left it. Best effort: a server that is
   * gone or a slot in use is left alone.
   */
  async releaseLeftSlots(sources: readonly ReplicationSource[]): Promise<void> {
    for (const src of sources) {
      const rec = this.follows.get(src.name);
      if (!rec) continue;
      const here = serverId(src.config.connectionString, src.slot);
      for (const [id, lsn] of Object.entries(rec.left)) {
        if (id === here) continue;
        const m = /^(.*):(\d+)\/(.*)\/([^/]+)$/.exec(id);
        if (!m) continue;
        const old = new ReplicationSource(
          {
            ...src.config,
            connectionString: retarget(src.config.connectionString, { host: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2]), dbname: m[3] }),
            slot: m[4],
          },
          this.log,
        );
        try {
          await old.withClient(async (c) => {
            const r = await c.query("SELECT active_pid, confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1", [m[4]]);
            if (!r.rowCount || r.rows[0].active_pid || !r.rows[0].lsn || parseLsn(r.rows[0].lsn) >= BigInt(lsn)) return;
            await c.query("SELECT pg_replication_slot_advance($1, $2::pg_lsn)", [m[4], formatLsn(BigInt(lsn))]);
            this.log.info("advanced the slot a handoff left behind to the handoff", { source: src.name, server: id, lsn: formatLsn(BigInt(lsn)) });
          });
        } catch (e) {
          this.log.debug("could not check the slot a handoff left behind", { source: src.name, server: id, error: (e as Error).message });
        }
      }
    }
  }

  /**
   * A switchover moved the primary: everything read so far is committed, the switch is recorded in
   * every table, and the source goes on from the new primary's slot. The old server's stream stops;
   * its slot stays (a rollback may come back to it) until `floe upgrade cleanup`.
   */
  async follow(pipeline: FollowPipeline, src: ReplicationSource, h: Handoff, endLsn: bigint): Promise<void> {
    const base = this.configOf(src);
    const last = this.follows.get(base.name);
    if (!base.followUpgrades) {
      await pipeline.flush();
      this.log.warn("upgrade handoff ignored (followUpgrades is false): this source's server is no longer the primary", {
        source: base.name,
        to: h.to,
        kind: h.kind,
      });
      return;
    }
    if (!isNewer(h, last)) {
      await pipeline.flush();
      this.log.info("upgrade handoff already followed: ignored", { source: base.name, upgrade: h.upgrade, seq: h.seq });
      return;
    }
    // Commit everything before the handoff, but confirm the old slot past it only once the switch
    // is recorded: a crash in between must leave either the record or the message to read again.
    pipeline.unbatch(src.name);
    await pipeline.flush();
    const left = { ...(last?.left ?? {}), [serverId(src.config.connectionString, src.slot)]: endLsn.toString() };
    const rec: FollowRecord = { ...h, generation: (last?.generation ?? 0) + 1, left };
    this.follows.set(base.name, rec);
    await this.record();
    src.confirm(endLsn);
    cdcMetrics.handoffs.inc({ source: base.name, kind: h.kind });
    const next = this.followedSource(base, rec);
    await pipeline.switchSource(src, next);
    void src.stop(); // not awaited: its stream is the one delivering this message
    const from = await pipeline.prepareSource(next);
    // lastCommitTime stays: it is still the newest source commit in Iceberg. LSNs are the new server's from here on.
    this.status.sources[base.name] = {
      ...this.status.sources[base.name],
      confirmedLsn: formatLsn(from),
      server: `${h.to.host}:${h.to.port}/${h.to.dbname}`,
      generation: rec.generation,
    };
    await pipeline.startStream(next, from);
    this.log.info("followed the upgrade handoff: reading the new primary", {
      source: base.name,
      kind: h.kind,
      to: h.to,
      slot: h.slot,
      generation: rec.generation,
      from: formatLsn(from),
    });
  }
}
