import { Health, healthCode, liveCode } from "../../../runtime/cdc/http";

const health = (state: Health["state"]): Health => ({ state }) as Health;

test("/healthz is readiness: 503 while retrying, failed or stopped", () => {
  expect(["starting", "snapshotting", "streaming", "retrying", "failed", "stopped"].map((s) => [s, healthCode(health(s as Health["state"]))])).toEqual([
    ["starting", 200],
    ["snapshotting", 200],
    ["streaming", 200],
    ["retrying", 503],
    ["failed", 503],
    ["stopped", 503],
  ]);
});

test("/livez is liveness: a writer retrying an outage stays live, a failed or stopped one does not", () => {
  expect(["streaming", "retrying", "failed", "stopped"].map((s) => [s, liveCode(health(s as Health["state"]))])).toEqual([
    ["streaming", 200],
    ["retrying", 200],
    ["failed", 503],
    ["stopped", 503],
  ]);
});
