import * as pulumi from "@pulumi/pulumi";
import { pgModule, runtimeModule } from "../runtime";

export interface LocalSqlCatalogArgs {
  /** Postgres URL of the database holding the catalog tables (Iceberg's JDBC catalog schema). Kept secret. Required. */
  uri: pulumi.Input<string>;
  /** catalog_name of the tables. Defaults to "floe". */
  name?: pulumi.Input<string>;
  /** Warehouse root of new tables (file:///...). Required. */
  warehouse: pulumi.Input<string>;
  /** Namespace created up front. Defaults to "floe". */
  namespace?: pulumi.Input<string>;
}

interface Inputs {
  uri: string;
  name: string;
  warehouse: string;
  namespace: string;
}

const provider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: Inputs) {
    const { SqlCatalog } = runtimeModule("iceberg/sql-catalog");
    const catalog = await SqlCatalog.connect({ name: inputs.name, url: inputs.uri, warehouse: inputs.warehouse });
    try {
      if (!(await catalog.namespaceExists([inputs.namespace]))) await catalog.createNamespace([inputs.namespace], {});
    } finally {
      await catalog.close();
    }
    return { id: `${inputs.name}`, outs: inputs };
  },
  async diff(_id: string, olds: Inputs, news: Inputs) {
    const keys: (keyof Inputs)[] = ["uri", "name", "warehouse", "namespace"];
    const changed = keys.filter((k) => olds[k] !== news[k]);
    return { changes: changed.length > 0, replaces: changed.filter((k) => k !== "uri") };
  },
  async update(_id: string, _olds: Inputs, news: Inputs) {
    return { outs: news };
  },
  async delete(_id: string, props: Inputs) {
    // Forget the catalog's tables (their files go with the warehouse directory). A server that is
    // already gone has nothing left to forget.
    const { Client } = pgModule();
    const c = new Client({ connectionString: props.uri });
    try {
      await c.connect();
    } catch {
      return;
    }
    try {
      await c.query("DELETE FROM iceberg_tables WHERE catalog_name = $1", [props.name]);
      await c.query("DELETE FROM iceberg_namespace_properties WHERE catalog_name = $1", [props.name]);
    } finally {
      await c.end();
    }
  },
};

/**
 * The local Iceberg catalog: Iceberg's JDBC catalog schema (iceberg_tables,
 * iceberg_namespace_properties) in a database of the local Postgres, which pyiceberg's SqlCatalog,
 * Spark's JdbcCatalog and Trino (`iceberg.catalog.type=jdbc`) can open too.
 */
export class LocalSqlCatalog extends pulumi.dynamic.Resource {
  declare readonly uri: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly warehouse: pulumi.Output<string>;
  declare readonly namespace: pulumi.Output<string>;

  constructor(name: string, args: LocalSqlCatalogArgs, opts: pulumi.CustomResourceOptions = {}) {
    super(
      provider,
      name,
      { uri: pulumi.secret(args.uri), name: args.name ?? "floe", warehouse: args.warehouse, namespace: args.namespace ?? "floe" },
      { ...opts, additionalSecretOutputs: ["uri"] },
      "floe",
      "LocalSqlCatalog",
    );
  }
}

/** The provider itself, for tests that drive it without an engine. */
export { provider as localSqlCatalogProvider };
