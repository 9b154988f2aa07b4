/**
 * The upgrade handoff: how a blue/green switchover tells the CDC writer to follow, in band.
 *
 * After the pooler points at the new primary, the upgrade orchestrator writes a transactional
 * logical decoding message (prefix `floe.handoff`) on the old primary. With the pooler switched, no
 * client writes reach the old primary any more, so the message sits after the last change the
 * writer must read there. The writer reads it in order, commits everything before it, records the
 * switch in every Iceberg table (`floe.follow.<source>`), and goes on from the new primary's slot,
 * which the orchestrator created before the pause. Both sides are read with origin = none, so what
 * replication applied between them is never read twice. A rollback sends the same message the other
 * way. Messages carry (upgrade, seq) so a message re-sent by a recovered orchestrator is ignored.
 */
import { z } from "zod";

export const HANDOFF_PREFIX = "floe.handoff";

export const HandoffSchema = z.object({
  version: z.literal(1),
  /** Identity of the upgrade (its state file's id). */
  upgrade: z.string().min(1),
  /** Switchovers done by this upgrade so far, this one included (cutover 1, rollback 2, ...). */
  seq: z.number().int().min(1),
  kind: z.enum(["cutover", "rollback"]),
  /** The new primary, as the pooler reaches it. */
  to: z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535), dbname: z.string().min(1) }),
  /** The writer's slot and publication on the new primary (same names as on the old one). */
  slot: z.string().min(1),
  publication: z.string().min(1),
});
export type Handoff = z.infer<typeof HandoffSchema>;

/** What a table records when its source moved: the handoff plus the generation it started. */
export interface FollowRecord extends Handoff {
  /** 1 for the first server followed, 2 for the next, ...; the LSN key is `<source>~<generation>`. */
  generation: number;
  /**
   * Per server left behind (serverId): the end LSN of its handoff transaction. Coming back to that
   * server (a rollback) starts there, even when a crash kept its slot from being confirmed that far.
   */
  left: Record<string, string>;
}

/** A server and slot, as the follow record names them. */
export const serverId = (connectionString: string, slot: string): string => {
  const u = new URL(connectionString);
  return `${u.hostname}:${u.port || "5432"}/${decodeURIComponent(u.pathname.slice(1))}/${slot}`;
};

export const followKey = (source: string): string => `floe.follow.${source}`;
export const generationKey = (source: string, generation: number): string => (generation === 0 ? source : `${source}~${generation}`);
/** The source a LSN key belongs to (`shard-0~2` -> `shard-0`). */
export const lineageOf = (lsnKeyName: string): string => lsnKeyName.split("~", 1)[0];

export function parseHandoff(content: Buffer): Handoff {
  let raw: unknown;
  try {
    raw = JSON.parse(content.toString("utf8"));
  } catch (e) {
    throw new Error(`${HANDOFF_PREFIX} message is not JSON: ${(e as Error).message}`);
  }
  const r = HandoffSchema.safeParse(raw);
  if (!r.success) throw new Error(`${HANDOFF_PREFIX} message is malformed: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}

export function parseFollowRecord(text: string | undefined): FollowRecord | undefined {
  if (text === undefined) return undefined;
  const raw = JSON.parse(text) as FollowRecord;
  const h = HandoffSchema.parse(raw);
  if (!Number.isInteger(raw.generation) || raw.generation < 1) throw new Error(`follow record has no valid generation: ${text}`);
  return { ...h, generation: raw.generation, left: raw.left ?? {} };
}

/** Whether `h` is newer than what was recorded (a re-sent message has the same upgrade and seq). */
export function isNewer(h: Handoff, last: FollowRecord | undefined): boolean {
  return !last || last.upgrade !== h.upgrade || h.seq > last.seq;
}

/** The source's connection string with host, port and database of the new primary (user, password and parameters kept). */
export function retarget(connectionString: string, to: Handoff["to"]): string {
  const u = new URL(connectionString);
  u.hostname = to.host.includes(":") && !to.host.startsWith("[") ? `[${to.host}]` : to.host;
  u.port = String(to.port);
  u.pathname = `/${encodeURIComponent(to.dbname)}`;
  u.searchParams.delete("host");
  u.searchParams.delete("port");
  u.searchParams.delete("dbname");
  return u.toString();
}

/** SQL (one parameter: the handoff JSON) that writes the message on the old primary. */
export const EMIT_HANDOFF_SQL = `SELECT pg_logical_emit_message(true, '${HANDOFF_PREFIX}', $1::text)::text AS lsn`;
