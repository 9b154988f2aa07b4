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
 * - local: Iceberg's JDBC catalog schema in the local Postgres (the SQL catalog: `uri`); with
 *   `local.rest`, also Apache Iceberg's own REST server over the same tables (`restUri`, OAuth2
 *   client credentials `restCredential`), a supervised Java process on 127.0.0.1.
 */
export class IcebergCatalog extends pulumi.ComponentResource {
  /** "rest" (kubernetes, aws) or "sql" (local: what `uri` is; the REST endpoint is `restUri`). */
  readonly type: string;
  /** REST catalog base URI; local: the Postgres URL of the SQL catalog (secret). */
  readonly uri: pulumi.Output<string>;
  /** The Iceberg REST endpoint engines attach to: `uri` on kubernetes and aws; local: http://127.0.0.1:<port> of the REST server (undefined without `local.rest`). */
  readonly restUri: pulumi.Output<string | undefined>;
  /** local: "client_id:client_secret" of the REST server (OAuth2 client credentials; secret). Undefined elsewhere: those catalogs authenticate their own way. */
  readonly restCredential: pulumi.Output<string | undefined>;
  /** Warehouse identifier to pass to /v1/config. */
  readonly warehouse: pulumi.Output<string>;
  /** Iceberg namespace of the replicated tables. */
  readonly namespace: string;
  /** aws: SigV4 signing service ("glue" or "s3tables"); undefined on kubernetes. */
  readonly sigv4Service: string | undefined;
  readonly region: pulumi.Output<string>;
  /** aws: IAM policy granting catalog + bucket access. */
  readonly accessPolicyArn: pulumi.Output<string | undefined>;
  /** kubernetes with `tls`: the Secret whose `ca.crt` clients of the https `uri` trust. */
  readonly caSecretName: pulumi.Output<string | undefined>;
  /** kubernetes with authentication "kubernetes": the audience of the service-account tokens clients must send. */
  readonly tokenAudience: pulumi.Output<string | undefined>;

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
    this.restUri = r.restUri ?? (r.type === "rest" ? r.uri.apply((u) => u as string | undefined) : pulumi.output(undefined));
    this.restCredential = r.restCredential ?? pulumi.output(undefined);
    this.caSecretName = r.caSecretName ?? pulumi.output(undefined);
    this.tokenAudience = r.tokenAudience ?? pulumi.output(undefined);
    this.registerOutputs({
      uri: this.uri,
      warehouse: this.warehouse,
      namespace: this.namespace,
      region: this.region,
      accessPolicyArn: this.accessPolicyArn,
      restUri: this.restUri,
      restCredential: this.restCredential,
      caSecretName: this.caSecretName,
      tokenAudience: this.tokenAudience,
    });
  }
}
