import * as pulumi from "@pulumi/pulumi";
import type { FloeMocks, RecordedResource } from "../../../components/testing";

export { valueOf, isSecret, isKnown, installFloeMocks } from "../../../components/testing";

/** Custom-resource type counts of the resources whose URN is under `root` (a component name). */
export function countsUnder(m: FloeMocks, rootName: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of m.resources.filter((x) => x.custom && underRoot(m, x, rootName))) out[r.type] = (out[r.type] ?? 0) + 1;
  return out;
}

/** Whether `r`'s parent chain reaches the resource named `rootName`. */
export function underRoot(m: FloeMocks, r: RecordedResource, rootName: string): boolean {
  let cur: RecordedResource | undefined = r;
  const byUrn = new Map(m.resources.map((x) => [x.urn, x]));
  while (cur) {
    if (cur.name === rootName) return true;
    cur = cur.parentUrn ? byUrn.get(cur.parentUrn) : undefined;
  }
  return false;
}

export function only(m: FloeMocks, type: string, under?: string): RecordedResource {
  const rs = m.ofType(type).filter((r) => under === undefined || underRoot(m, r, under));
  if (rs.length !== 1) throw new Error(`expected one ${type}${under ? ` under ${under}` : ""}, found ${rs.length}`);
  return rs[0];
}

export function all(m: FloeMocks, type: string, under?: string): RecordedResource[] {
  return m.ofType(type).filter((r) => under === undefined || underRoot(m, r, under));
}

export async function settle(m: FloeMocks, ...outs: pulumi.Input<unknown>[]): Promise<void> {
  await m.settled(...outs);
}
