/**
 * AWS Signature Version 4 for REST catalog requests: the AWS Glue Iceberg REST endpoint
 * (signing name `glue`, `https://glue.<region>.amazonaws.com/iceberg`) and S3 Tables
 * (`s3tables`, `https://s3tables.<region>.amazonaws.com/iceberg`).
 *
 * Signing is done by @smithy/signature-v4 (the AWS SDK's own signer) with the SHA-256 of
 * @aws-crypto/sha256-js; this module only turns a fetch-style request into the signer's shape and
 * back, the way Iceberg's Java `RESTSigV4Signer` does: the body hash goes in
 * `x-amz-content-sha256`, and a bearer token already on the request moves to
 * `Original-Authorization` (the SigV4 signature takes `Authorization`).
 */
import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** When these credentials stop working; a provider is asked again before then. */
  expiration?: Date;
}

export type AwsCredentialsProvider = () => Promise<AwsCredentials>;

export interface SigV4Options {
  /** AWS region, e.g. "us-east-1". */
  region: string;
  /** Signing name: "glue" for the Glue Iceberg REST endpoint, "s3tables" for S3 Tables. */
  service: string;
  /**
   * Static credentials or a provider. Defaults to AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
   * AWS_SESSION_TOKEN from the environment, then the AWS SDK's default provider chain
   * (profiles, SSO, web identity, container and instance metadata).
   */
  credentials?: AwsCredentials | AwsCredentialsProvider;
  /** Adds `x-amz-content-sha256: <hex sha256 of the body>`. Defaults to true (as Iceberg's signer). */
  contentSha256?: boolean;
}

export interface SignableRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** Lower-case header map, which the SigV4 canonical form needs anyway. */
function lowerHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v;
  return out;
}

export function defaultAwsCredentials(): AwsCredentialsProvider {
  return async () => {
    const id = process.env.AWS_ACCESS_KEY_ID;
    const secret = process.env.AWS_SECRET_ACCESS_KEY;
    if (id && secret) return { accessKeyId: id, secretAccessKey: secret, sessionToken: process.env.AWS_SESSION_TOKEN || undefined };
    let chain: AwsCredentialsProvider;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- the AWS credential chain is loaded only when no key is configured
      chain = require("@aws-sdk/credential-provider-node").defaultProvider();
    } catch {
      throw new Error("SigV4 signing needs AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or pass sigv4.credentials");
    }
    return chain();
  };
}

function sha256Hex(body: string): Promise<string> {
  const h = new Sha256();
  h.update(body);
  return h.digest().then((d) => Buffer.from(d).toString("hex"));
}

/** Signs requests for one region/service; reuses credentials until they near expiry. */
export class SigV4Signer {
  private readonly signer: SignatureV4;
  private readonly contentSha256: boolean;

  constructor(readonly options: SigV4Options) {
    if (!options.region) throw new Error('sigv4.region is required (e.g. "us-east-1")');
    if (!options.service) throw new Error('sigv4.service is required: "glue" (Glue Iceberg REST) or "s3tables" (S3 Tables)');
    const creds = options.credentials ?? defaultAwsCredentials();
    this.signer = new SignatureV4({
      service: options.service,
      region: options.region,
      sha256: Sha256,
      credentials: typeof creds === "function" ? creds : async () => creds,
      uriEscapePath: true,
      applyChecksum: false,
    });
    this.contentSha256 = options.contentSha256 ?? true;
  }

  /** Returns the headers to send: the given ones plus host, x-amz-date, authorization (and more). */
  async sign(req: SignableRequest, signingDate?: Date): Promise<Record<string, string>> {
    const url = new URL(req.url);
    const headers = lowerHeaders(req.headers);
    if (headers.authorization) {
      headers["original-authorization"] = headers.authorization;
      delete headers.authorization;
    }
    headers.host = url.host;
    if (this.contentSha256) headers["x-amz-content-sha256"] = await sha256Hex(req.body ?? "");
    const query: Record<string, string | string[]> = {};
    for (const [k, v] of url.searchParams) {
      const prev = query[k];
      query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    const signed = await this.signer.sign(
      {
        method: req.method.toUpperCase(),
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port ? Number(url.port) : undefined,
        // The path as sent (already URI-encoded once). For every service but S3, SigV4's canonical
        // URI encodes each segment once more, which the signer does (uriEscapePath).
        path: url.pathname,
        query,
        headers,
        body: req.body,
      },
      signingDate ? { signingDate } : undefined,
    );
    return signed.headers as Record<string, string>;
  }
}
