import * as pulumi from "@pulumi/pulumi";
import { runtimeModule } from "../runtime";

export interface LocalDirectoryArgs {
  /** Absolute path. Created (with parents) on create; removed with everything in it on delete. Required. */
  path: pulumi.Input<string>;
}

const provider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: { path: string }) {
    const fs = require("node:fs");
    const p = require("node:path");
    if (!p.isAbsolute(inputs.path)) throw new Error(`LocalDirectory: path must be absolute, got "${inputs.path}"`);
    fs.mkdirSync(inputs.path, { recursive: true, mode: 0o700 });
    fs.chmodSync(inputs.path, 0o700);
    runtimeModule("local/process").handOver(inputs.path);
    return { id: inputs.path, outs: { path: inputs.path, location: "file://" + inputs.path } };
  },
  async read(id: string, props: { path: string; location: string }) {
    // A directory removed behind Pulumi's back reads as gone: refresh drops it, the next up recreates it.
    // eslint-disable-next-line no-restricted-syntax -- an empty id reads as gone to the engine; ReadResult's props type wants the full outputs
    if (!require("node:fs").existsSync(props.path)) return { id: "", props: {} } as any;
    return { id, props };
  },
  async diff(_id: string, olds: { path: string }, news: { path: string }) {
    const gone = !require("node:fs").existsSync(olds.path);
    return { changes: olds.path !== news.path || gone, replaces: olds.path !== news.path ? ["path"] : [], deleteBeforeReplace: true };
  },
  async update(_id: string, _olds: { path: string }, news: { path: string }) {
    require("node:fs").mkdirSync(news.path, { recursive: true, mode: 0o700 });
    require("node:fs").chmodSync(news.path, 0o700);
    runtimeModule("local/process").handOver(news.path);
    return { outs: { path: news.path, location: "file://" + news.path } };
  },
  async delete(_id: string, props: { path: string }) {
    require("node:fs").rmSync(props.path, { recursive: true, force: true });
  },
};

/**
 * A directory owned by the server user and readable by it only (0700: the local object storage holds
 * a copy of the database; the Iceberg warehouse, and the root that holds every local process's
 * state). Removed, with its contents, on delete.
 */
export class LocalDirectory extends pulumi.dynamic.Resource {
  declare readonly path: pulumi.Output<string>;
  /** file:// URI of the directory. */
  declare readonly location: pulumi.Output<string>;

  constructor(name: string, args: LocalDirectoryArgs, opts: pulumi.CustomResourceOptions = {}) {
    super(provider, name, { path: args.path, location: undefined }, opts, "floe", "LocalDirectory");
  }
}

/** The provider itself, for tests that drive it without an engine. */
export { provider as localDirectoryProvider };
