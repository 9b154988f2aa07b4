// `pulumi preview`: ids, endpoints, ARNs and generated passwords are unknown. The components must
// still build the same shape, keep secrets secret, and leave unknown outputs unknown (not "undefined").
import { DataPlatform } from "../../../components/platform/dataPlatform";
import type { FloeMocks } from "../../../components/testing";
import { countsUnder, installFloeMocks, isKnown, isSecret } from "./helpers";

let m: FloeMocks;
beforeAll(async () => {
  m = await installFloeMocks({ preview: true });
});

test("kubernetes platform previews with unknown values", async () => {
  const p = new DataPlatform("vk", { target: "kubernetes", postgres: { shards: 2, kubernetes: { citusImage: "example/citus:16" } } });
  await m.settled(p.poolerEndpoint, p.catalogUri, p.cdc!.writers);
  const counts = countsUnder(m, "vk");
  expect(counts["kubernetes:postgresql.cnpg.io/v1:Cluster"]).toBe(3);
  expect(counts["kubernetes:apps/v1:Deployment"]).toBe(2);
  expect(counts["postgresql:index/role:Role"]).toBe(3);
  // Passwords are unknown at preview, so the connection string is unknown, and still secret.
  expect(await isKnown(p.connectionString)).toBe(false);
  expect(await isSecret(p.connectionString)).toBe(true);
  // The CDC config depends on the replication password: unknown, never rendered with a placeholder.
  const cfg = m.named("vk-cdc-shard-0-config").inputs.stringData;
  expect(cfg?.["config.json"]).toBeUndefined();
  expect(m.secretLeaks()).toEqual([]);
});

test("aws platform previews with unknown endpoints and ARNs", async () => {
  const p = new DataPlatform("va", { target: "aws" });
  await m.settled(p.poolerEndpoint, p.catalogUri, p.cdc!.writers);
  const counts = countsUnder(m, "va");
  expect(counts["aws:rds/cluster:Cluster"]).toBe(1);
  expect(counts["aws:rds/proxy:Proxy"]).toBe(1);
  expect(counts["aws:ecs/service:Service"]).toBe(1);
  expect(await isKnown(p.poolerEndpoint)).toBe(false);
  expect(await isKnown(p.connectionSecret)).toBe(false);
  // Known without any resource: the Glue endpoint is derived from the region.
  expect(await isKnown(p.catalogUri)).toBe(true);
  expect(m.secretLeaks()).toEqual([]);
});
