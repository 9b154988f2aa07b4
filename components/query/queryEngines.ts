import * as pulumi from "@pulumi/pulumi";
import { dispatch } from "../target";
import { buildKubernetesQueryEngines } from "./kubernetes";
import { buildAwsQueryEngines } from "./aws";
import { buildLocalQueryEngines } from "./local";
import type { QueryEnginesArgs, QueryEnginesBuildResult } from "./args";

export * from "./args";

/**
 * Query engines configured against the REST catalog, so the CDC writer's tables are queryable at once.
 *
 * - kubernetes: Trino (Helm, an `iceberg` connector catalog on the REST catalog) and ClickHouse
 *   (Helm, a `DataLakeCatalog` database on the REST catalog created by an init script).
 * - aws: an Athena workgroup (results encrypted, configuration enforced, scan limit), and optionally
 *   Trino on your EKS cluster reading the Glue catalog.
 */
export class QueryEngines extends pulumi.ComponentResource {
  /** Trino HTTP endpoint (in-cluster). */
  readonly trinoEndpoint: pulumi.Output<string | undefined>;
  /** ClickHouse HTTP endpoint (in-cluster). */
  readonly clickhouseEndpoint: pulumi.Output<string | undefined>;
  /** ClickHouse password of user "floe" (secret). */
  readonly clickhousePassword: pulumi.Output<string | undefined>;
  /** Athena workgroup name. */
  readonly athenaWorkgroup: pulumi.Output<string | undefined>;

  constructor(name: string, args: QueryEnginesArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:QueryEngines", name, {}, opts);
    const r: QueryEnginesBuildResult = dispatch("QueryEngines", this, name, args.target, args, {
      kubernetes: buildKubernetesQueryEngines,
      aws: buildAwsQueryEngines,
      local: buildLocalQueryEngines,
    });
    this.trinoEndpoint = r.trinoEndpoint;
    this.clickhouseEndpoint = r.clickhouseEndpoint;
    this.clickhousePassword = pulumi.secret(r.clickhousePassword);
    this.athenaWorkgroup = r.athenaWorkgroup;
    this.registerOutputs({
      trinoEndpoint: this.trinoEndpoint,
      clickhouseEndpoint: this.clickhouseEndpoint,
      clickhousePassword: this.clickhousePassword,
      athenaWorkgroup: this.athenaWorkgroup,
    });
  }
}
