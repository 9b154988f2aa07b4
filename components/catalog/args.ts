/** The args of IcebergCatalog and what every target's builder returns. */
import type * as pulumi from "@pulumi/pulumi";
import type { CertificateTlsArgs } from "../tls";

/** Where the catalog's tables live. */
export interface CatalogStorageArgs {
  /** Bucket of the warehouse. Required. */
  bucket: pulumi.Input<string>;
  /** Prefix of the warehouse inside the bucket. Defaults to "warehouse". */
  prefix?: string;
  /** S3 endpoint for MinIO and other S3-compatible stores. Defaults to AWS S3. */
  endpoint?: pulumi.Input<string>;
  /** Region of the bucket. Defaults to "us-east-1". */
  region?: pulumi.Input<string>;
  /** kubernetes: Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for the bucket. Required on kubernetes. */
  credentialsSecretName?: pulumi.Input<string>;
  /** aws: bucket ARN, for the IAM policy. Required on aws. */
  bucketArn?: pulumi.Input<string>;
  /** local: file:///… of the warehouse (ObjectStorage.warehouseLocation). Required on local. */
  warehouseLocation?: pulumi.Input<string>;
}

/** The Postgres database Lakekeeper stores the catalog in. */
export interface CatalogDatabaseArgs {
  /** Postgres host. Required. */
  host: pulumi.Input<string>;
  /** Defaults to 5432. */
  port?: pulumi.Input<number>;
  /** Database name. Required. */
  database: pulumi.Input<string>;
  /** Login role owning the database. Required. */
  username: pulumi.Input<string>;
  /** Its password; pass a secret. Required. */
  password: pulumi.Input<string>;
  /**
   * kubernetes: a Secret whose `ca.crt` signed the database's server certificate (CloudNativePG's
   * `<cluster>-ca`): Lakekeeper then connects with sslmode verify-full against it. DataPlatform
   * passes its cluster's. Defaults to sslmode require (encrypted, the certificate not checked).
   */
  caSecretName?: pulumi.Input<string>;
}

export interface IcebergCatalogKubernetesArgs {
  /** Namespace (must exist). Defaults to "floe". */
  namespace?: string;
  /** Postgres database of the catalog (the platform's cluster). Required. */
  database: CatalogDatabaseArgs;
  /** Version of the Lakekeeper Helm chart. Defaults to "0.7.1". */
  chartVersion?: pulumi.Input<string>;
  /** Catalog replicas. Defaults to 2. */
  replicas?: number;
  /** Image used by the warehouse bootstrap Job. Defaults to "curlimages/curl:8.11.1". */
  bootstrapImage?: pulumi.Input<string>;
  /**
   * Serve the catalog over TLS with a cert-manager certificate from this issuer. Lakekeeper speaks
   * plain HTTP only, so a TLS proxy (ghostunnel, `tlsProxyImage`) beside it in each pod serves
   * port 8443 from the certificate (reloaded as cert-manager renews it) and forwards to Lakekeeper
   * on the pod's loopback; the Service `<name>-lakekeeper-tls` leads to it, and `uri` becomes
   * https://…:8443/catalog (LAKEKEEPER__BASE_URI says so to clients). DataPlatform passes its CA.
   * Defaults to plain HTTP on port 8181.
   */
  tls?: CertificateTlsArgs;
  /** The TLS proxy's image. Defaults to "ghostunnel/ghostunnel:v1.11.1-distroless". */
  tlsProxyImage?: pulumi.Input<string>;
  /**
   * A Secret whose `ca.crt` Lakekeeper trusts for its own HTTPS calls (an https object store such
   * as floe's MinIO with TLS; an OpenID provider): set as SSL_CERT_FILE, which replaces the public
   * CAs for Lakekeeper, so it must hold every CA Lakekeeper needs. Defaults to the public CAs.
   */
  trustedCaSecretName?: pulumi.Input<string>;
  /**
   * Who may call the catalog: "kubernetes" (Kubernetes service-account tokens, checked by
   * Lakekeeper with the API server's TokenReview, for the audience `tokenAudience`; the bootstrap
   * Job and the CDC writer send projected tokens of their own ServiceAccounts) or "none" (anyone
   * the NetworkPolicies let through). Defaults to "kubernetes".
   */
  authentication?: string;
  /** The audience a service-account token must be issued for. Defaults to "floe-catalog". */
  tokenAudience?: string;
  /**
   * Also accept the tokens of this OpenID provider (its issuer URL; it must serve
   * /.well-known/openid-configuration), e.g. for engines with OAuth2 client credentials. Needs
   * authentication "kubernetes". Defaults to none.
   */
  openIdProviderUri?: pulumi.Input<string>;
  /** The audience those OpenID tokens must carry. Defaults to none (not checked: set it). */
  openIdAudience?: pulumi.Input<string>;
  /** Escape hatch merged last into the Lakekeeper chart values. Defaults to none. */
  helmValues?: Record<string, unknown>;
}

export interface IcebergCatalogAwsArgs {
  /** "glue" (the Glue Iceberg REST endpoint over the account's Glue catalog) or "s3tables" (an S3 Tables table bucket). Defaults to "glue". */
  flavor?: string;
  /**
   * The warehouse location is registered with Lake Formation, whose credential vending the readers
   * use: adds `lakeformation:GetDataAccess` to the access policy. That action has no resource type
   * in IAM, so it can only be granted on "*" (Lake Formation's own grants then scope it).
   * Defaults to false (IAM access to the bucket prefix, no Lake Formation permission at all).
   */
  lakeFormation?: boolean;
}

export interface IcebergCatalogLocalArgs {
  /** Postgres URL of the database holding Iceberg's JDBC catalog tables (pass a secret). Required. */
  uri: pulumi.Input<string>;
  /** catalog_name of the tables. Defaults to "floe". */
  name?: string;
  /**
   * Whether to also run an Iceberg REST catalog server over the same tables: Apache Iceberg's own
   * (a JdbcCatalog on `uri`), on 127.0.0.1 behind OAuth2 client credentials, that engines attach to
   * as they would in production (`restUri`, `restCredential`). Needs a JDK 17+ and Maven on the
   * machine (its jars come from Maven Central, cached). Defaults to false: the SQL catalog alone,
   * nothing needs Java, and `restUri` is undefined.
   */
  rest?: boolean;
  /** Port of the REST catalog server on 127.0.0.1; 0 picks a free one at create, kept after. Defaults to 0. */
  restPort?: number;
  /** The REST server's client credentials, "client_id:client_secret" (secret). Defaults to client id "floe" with a secret generated at create. */
  restCredential?: pulumi.Input<string>;
  /** Directory of the REST catalog server's files (removed on destroy). Defaults to `.floe-<stack>/<name>` in the working directory. */
  dir?: string;
}

export interface IcebergCatalogArgs {
  /** Where it runs: "kubernetes", "aws" or "local". Defaults to "local". */
  target?: string;
  /** Warehouse name (Lakekeeper) / table bucket name (S3 Tables). Defaults to "floe". */
  warehouse?: string;
  /** Iceberg namespace created for the CDC writer's tables. Defaults to "floe". */
  namespace?: string;
  /** The warehouse's storage. Required. */
  storage: CatalogStorageArgs;
  /** Kubernetes-only settings. Required on that target. */
  kubernetes?: IcebergCatalogKubernetesArgs;
  /** AWS-only settings. Defaults to flavor "glue". */
  aws?: IcebergCatalogAwsArgs;
  /** Local-only settings. Required on that target (the database that holds the catalog). */
  local?: IcebergCatalogLocalArgs;
}

export interface IcebergCatalogBuildResult {
  /** "rest" (kubernetes, aws) or "sql" (local: Iceberg's JDBC catalog schema in Postgres). */
  type: string;
  uri: pulumi.Output<string>;
  warehouse: pulumi.Output<string>;
  namespace: string;
  sigv4Service: string | undefined;
  region: pulumi.Output<string>;
  accessPolicyArn: pulumi.Output<string | undefined>;
  /** local: the REST server's endpoint (undefined unless `local.rest`). Defaults to `uri` when `type` is "rest". */
  restUri?: pulumi.Output<string | undefined>;
  /** local: "client_id:client_secret" for the REST server (OAuth2 client credentials), secret. Defaults to undefined. */
  restCredential?: pulumi.Output<string | undefined>;
  /** kubernetes with TLS: the Secret (key ca.crt) clients of the https uri trust. Defaults to undefined. */
  caSecretName?: pulumi.Output<string | undefined>;
  /** kubernetes with authentication "kubernetes": the audience of the service-account tokens clients send. Defaults to undefined. */
  tokenAudience?: pulumi.Output<string | undefined>;
}
