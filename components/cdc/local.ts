/**
 * The CDC writer on the local target: one supervised local process (LocalCdcWriter) reading every
 * source, its config rendered by the one renderer (./config.ts) with the runtime's defaults. The
 * catalog is usually the local SQL catalog (`catalog.type: "sql"`), the warehouse a directory.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { rejectOtherTargets, type BuildContext } from "../target";
import { defaultLocalDir } from "../postgres/local";
import type { CdcWriterArgs, CdcWriterBuildResult } from "./args";
import { cdcConfig, checkSources, sourceUrl } from "./config";
import { LocalCdcWriter } from "./localWriter";

export function buildLocalCdcWriter(ctx: BuildContext<CdcWriterArgs>): CdcWriterBuildResult {
  const { name, args, v, childOpts } = ctx;
  rejectOtherTargets(ctx);
  checkSources(args, v);
  const la = args.local ?? {};
  const dir = la.dir ?? defaultLocalDir(name);
  if (!path.isAbsolute(dir)) v.fail("local.dir", dir, "must be an absolute path", 'pass e.g. path.resolve(".floe/cdc")');
  const catalogType = v.oneOf("catalog.type", args.catalog.type, "rest", ["rest", "sql"]);
  const c = args.catalog;
  const sources = args.sources.map((s) =>
    pulumi.all([s.host, s.port ?? 5432, args.database, args.replicationUsername, args.replicationPassword]).apply(([host, port, database, user, password]) => ({
      name: s.name,
      connectionString: sourceUrl(user, password, host, port, database, args.sslmode),
      sslrootcert: args.sslrootcert,
      slot: s.slot,
      publication: args.publication,
      origin: s.origin,
    })),
  );
  const st = args.storage ?? {};
  const parts = pulumi.output({
    sources: pulumi.all(sources),
    uri: c.uri,
    warehouse: c.warehouse,
    region: c.region ?? "us-east-1",
    credential: c.credential,
    warehouseLocation: args.warehouseLocation,
    endpoint: st.endpoint,
    storageRegion: st.region,
    accessKeyId: st.accessKeyId,
    secretAccessKey: st.secretAccessKey,
  });
  const config = parts.apply((p) =>
    cdcConfig({
      sources: p.sources,
      tables: args.tables,
      catalog:
        catalogType === "sql"
          ? { type: "sql", uri: p.uri, name: c.name }
          : {
              type: "rest",
              uri: p.uri,
              warehouse: p.warehouse,
              credential: p.credential,
              sigv4: c.sigv4Service ? { region: p.region, service: c.sigv4Service } : undefined,
            },
      warehouse: p.warehouseLocation,
      storage:
        p.endpoint || p.accessKeyId
          ? { endpoint: p.endpoint, region: p.storageRegion, forcePathStyle: st.forcePathStyle, accessKeyId: p.accessKeyId, secretAccessKey: p.secretAccessKey }
          : undefined,
      namespace: args.namespace,
      commitIntervalMs: args.commitIntervalMs,
      formatVersion: args.formatVersion,
      maintenance: args.maintenance,
      http: { host: "127.0.0.1", port: la.httpPort ?? 0 },
    }),
  );
  const writer = new LocalCdcWriter(`${name}-writer`, { dir, config }, childOpts);
  const none = pulumi.output(undefined);
  return {
    writers: pulumi.output([`${name}-writer`]),
    serviceAccountName: none,
    taskRoleArn: none,
    healthUrl: pulumi.interpolate`http://127.0.0.1:${writer.httpPort}`,
    logFile: writer.logFile,
  };
}
