/**
 * The orchestrator's state file (JSON, written atomically). Re-running any command reads it first:
 * a crashed run is resumed from its phase, and a pooler left paused is resumed before anything else.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { DbTarget } from "./plan";

export const PHASES = [
  "planned", // state created, nothing changed on the servers
  "schema-copied", // green has blue's schema
  "replicating", // forward subscription green <- blue runs (initial copy, then streaming)
  "cutover", // between raising query_wait_timeout and RESUME; the pooler may be paused
  "upgraded", // green is primary behind the pooler; reverse replication blue <- green runs
  "rollback", // between raising query_wait_timeout and RESUME of a rollback
  "rolled-back", // blue is primary again
  "cleaned", // replication objects dropped
] as const;
export type Phase = (typeof PHASES)[number];

export interface UpgradeEvent {
  at: string;
  phase: Phase;
  msg: string;
  fields?: Record<string, unknown>;
}

export interface UpgradeState {
  version: 1;
  /** Identity of this upgrade (in the CDC handoff messages). Older state files lack it: the name stands in. */
  id?: string;
  /** Switchovers started (cutover and rollback attempts): the CDC handoff messages' sequence number. */
  switches?: number;
  /** base name of publications, subscriptions and slots */
  name: string;
  phase: Phase;
  database: string;
  poolerDatabase: string;
  /** where the pooler pointed before the upgrade */
  blueTarget: DbTarget | null;
  greenTarget: DbTarget;
  blueMajor: number | null;
  greenMajor: number | null;
  tables: string[];
  /** query_wait_timeout before the cutover raised it, while a cutover or rollback is under way */
  savedQueryWaitTimeout: number | null;
  lastAbort: { at: string; reason: string } | null;
  lastCutover: Record<string, number | string> | null;
  /**
   * For the CDC writer: drain blue's slot up to blueFinalLsn, then stream green's slot of the same
   * name; both with pgoutput option origin = none. Set by a cutover run with the cdc option.
   */
  cdcHandoff?: { publication: string; slot: string; blueFinalLsn: string; origin: "none" } | null;
  /** The last CDC handoff message written: its switchover, its LSN, and the server it is on (runtime/cdc/handoff.ts). */
  handoffSent?: { seq: number; lsn: string; on: "blue" | "green" };
  events: UpgradeEvent[];
}

export function newState(init: Pick<UpgradeState, "name" | "database" | "poolerDatabase" | "greenTarget">): UpgradeState {
  return {
    version: 1,
    id: randomUUID(),
    switches: 0,
    phase: "planned",
    blueTarget: null,
    blueMajor: null,
    greenMajor: null,
    tables: [],
    savedQueryWaitTimeout: null,
    lastAbort: null,
    lastCutover: null,
    events: [],
    ...init,
  };
}

export function loadState(path: string): UpgradeState | null {
  if (!existsSync(path)) return null;
  const s = JSON.parse(readFileSync(path, "utf8")) as UpgradeState;
  if (s.version !== 1 || !PHASES.includes(s.phase)) throw new Error(`${path} is not a floe upgrade state file (version ${s.version}, phase ${s.phase})`);
  return s;
}

export function saveState(path: string, s: UpgradeState): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(s, null, 2) + "\n", { mode: 0o600 });
  renameSync(tmp, path);
}

/** Record a phase change or an event, and persist. */
export function record(path: string, s: UpgradeState, phase: Phase, msg: string, fields?: Record<string, unknown>): void {
  s.phase = phase;
  s.events.push({ at: new Date().toISOString(), phase, msg, ...(fields ? { fields } : {}) });
  if (s.events.length > 200) s.events.splice(0, s.events.length - 200);
  saveState(path, s);
}
