import * as pulumi from "@pulumi/pulumi";
import { dispatch } from "../target";
import { buildKubernetesCatalog } from "./kubernetes";
import { buildAwsCatalog } from "./aws";
import { buildLocalCatalog } from "./local";
import type { IcebergCatalogArgs, IcebergCatalogBuildResult } from "./args";

export * from "./args";

/**
 * An Iceberg REST catalog that the CDC writer commits through and every engine reads.
 *
 * - kubernetes: Lakekeeper (Helm) storing its state in the platform's Postgres, with its secrets
 *   encrypted in Postgres; a Job bootstraps it and creates the warehouse on the object store.
 * - aws: the Glue Iceberg REST endpoint (a Glue database as the namespace) or an S3 Tables table
 *   bucket with a namespace; plus an IAM policy with exactly the catalog and bucket access a
 *   writer needs (attach it to the CDC writer's and engines' roles).
 */
export class IcebergCatalog extends pulumi.ComponentResource {
  /** "rest" (kubernetes, aws) or "sql" (local). */
  readonly type: string;
  /** REST catalog base URI; local: the Postgres URL of the SQL catalog (secret). */
  readonly uri: pulumi.Output<string>;
  /** Warehouse identifier to pass to /v1/config. */
  readonly warehouse: pulumi.Output<string>;
  /** Iceberg namespace of the replicated tables. */
  readonly namespace: string;
  /** aws: SigV4 signing service ("glue" or "s3tables"); undefined on kubernetes. */
  readonly sigv4Service: string | undefined;
  readonly region: pulumi.Output<string>;
  /** aws: IAM policy granting catalog + bucket access. */
  readonly accessPolicyArn: pulumi.Output<string | undefined>;

  constructor(name: string, args: IcebergCatalogArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("floe:index:IcebergCatalog", name, {}, opts);
    const r: IcebergCatalogBuildResult = dispatch("IcebergCatalog", this, name, args.target, args, {
      kubernetes: buildKubernetesCatalog,
      aws: buildAwsCatalog,
      local: buildLocalCatalog,
    });
    this.type = r.type;
    this.uri = r.uri;
    this.warehouse = r.warehouse;
    this.namespace = r.namespace;
    this.sigv4Service = r.sigv4Service;
    this.region = r.region;
    this.accessPolicyArn = r.accessPolicyArn;
    this.registerOutputs({ uri: this.uri, warehouse: this.warehouse, namespace: this.namespace, region: this.region, accessPolicyArn: this.accessPolicyArn });
  }
}
