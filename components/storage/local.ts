/**
 * Object storage on the local target: a directory owned by the server user (LocalDirectory), the
 * Iceberg warehouse as `file:///…`. There are no credentials, no bucket and no endpoint.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { rejectOtherTargets, type BuildContext } from "../target";
import { defaultLocalDir } from "../postgres/local";
import type { ObjectStorageArgs, ObjectStorageBuildResult } from "./args";
import { LocalDirectory } from "./localDirectory";

export function buildLocalObjectStorage(ctx: BuildContext<ObjectStorageArgs>): ObjectStorageBuildResult {
  const { name, args, v, childOpts } = ctx;
  rejectOtherTargets(ctx);
  if (args.bucketName !== undefined)
    v.fail("bucketName", args.bucketName, 'has no meaning on target "local" (the warehouse is a directory)', "remove it, or set local.path");
  const root = args.local?.path ?? defaultLocalDir(name);
  if (!path.isAbsolute(root)) v.fail("local.path", root, "must be an absolute path", 'pass e.g. path.resolve(".floe")');
  const prefix = args.warehousePrefix ?? "warehouse";
  const dir = new LocalDirectory(`${name}-warehouse`, { path: path.join(root, prefix) }, childOpts);
  const none = pulumi.output(undefined);
  return {
    bucket: dir.path,
    endpoint: none,
    region: pulumi.output("local"),
    forcePathStyle: false,
    warehouseLocation: dir.location,
    credentialsSecretName: none,
    accessKeyId: none,
    secretAccessKey: none,
    bucketArn: none,
  };
}
