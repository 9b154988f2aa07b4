/**
 * FileIO for S3 and S3-compatible object stores (MinIO, Ceph, R2, moto, …) through
 * @aws-sdk/client-s3. Locations are `s3://bucket/key` (`s3a://` and `s3n://` are accepted, as
 * Hadoop-era tables use them).
 *
 * Configuration is either explicit options or Iceberg's own S3 property names
 * (`S3FileIO.fromProperties`), so a REST catalog's config / vended credentials apply as they are:
 * `s3.endpoint`, `s3.path-style-access`, `s3.access-key-id`, `s3.secret-access-key`,
 * `s3.session-token`, `client.region` (or `s3.region`).
 */
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ClientConfig } from "@aws-sdk/client-s3";
import { caAgent, loadCa } from "../core/tls-ca";
import type { FileIO } from "./io";

export interface S3FileIOOptions {
  /** Custom endpoint for S3-compatible stores, e.g. "http://127.0.0.1:9000". Defaults to AWS S3. */
  endpoint?: string;
  /** Defaults to AWS_REGION / AWS_DEFAULT_REGION, else "us-east-1". */
  region?: string;
  /** Path-style URLs (http://host/bucket/key), needed by most S3-compatible stores. Defaults to false. */
  forcePathStyle?: boolean;
  /** Static credentials; defaults to the AWS SDK's default provider chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Use this client instead of building one (the other options are then ignored). */
  client?: S3Client;
  /** SDK retry attempts. Defaults to the SDK's (3). */
  maxAttempts?: number;
  /**
   * A PEM file of CA certificates trusted for an https:// endpoint, in addition to the public CAs
   * (kubernetes: the CA of the certificate cert-manager issued to MinIO). Read once, when the
   * client is built. Defaults to the public CAs only.
   */
  caFile?: string;
}

export interface S3Location {
  bucket: string;
  key: string;
}

/** Parses `s3://bucket/key` (also s3a:, s3n:). */
export function parseS3Location(location: string): S3Location {
  const m = /^s3[an]?:\/\/([^/]+)\/(.+)$/.exec(location);
  if (!m) throw new Error(`"${location}" is not an S3 location (expected s3://bucket/key)`);
  return { bucket: m[1], key: m[2] };
}

function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err?.name === "NoSuchKey" || err?.name === "NotFound" || err?.$metadata?.httpStatusCode === 404;
}

export class S3FileIO implements FileIO {
  readonly client: S3Client;

  constructor(options: S3FileIOOptions = {}) {
    if (options.client) {
      this.client = options.client;
      return;
    }
    const config: S3ClientConfig = {
      region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1",
      forcePathStyle: options.forcePathStyle ?? false,
    };
    if (options.endpoint) config.endpoint = options.endpoint;
    if (options.credentials) config.credentials = options.credentials;
    if (options.maxAttempts) config.maxAttempts = options.maxAttempts;
    // the SDK builds its node:https handler from these options
    if (options.caFile) config.requestHandler = { httpsAgent: caAgent(loadCa(options.caFile, "S3 storage")) };
    this.client = new S3Client(config);
  }

  /**
   * Builds an S3FileIO from Iceberg's S3 property names (catalog config / table config, which
   * may carry vended credentials); `defaults` fill in what the properties leave out.
   */
  static fromProperties(props: Record<string, string>, defaults: S3FileIOOptions = {}): S3FileIO {
    const id = props["s3.access-key-id"];
    const secret = props["s3.secret-access-key"];
    const pathStyle = props["s3.path-style-access"];
    return new S3FileIO({
      ...defaults,
      endpoint: props["s3.endpoint"] ?? defaults.endpoint,
      region: props["client.region"] ?? props["s3.region"] ?? defaults.region,
      forcePathStyle: pathStyle !== undefined ? pathStyle === "true" : defaults.forcePathStyle,
      credentials: id && secret ? { accessKeyId: id, secretAccessKey: secret, sessionToken: props["s3.session-token"] } : defaults.credentials,
    });
  }

  async read(location: string): Promise<Uint8Array> {
    const { bucket, key } = parseS3Location(location);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!res.Body) throw new Error("empty response body");
      return await res.Body.transformToByteArray();
    } catch (e) {
      if (isNotFound(e)) throw new Error(`cannot read ${location}: no such object`);
      throw new Error(`cannot read ${location}: ${(e as Error).name}: ${(e as Error).message}`);
    }
  }

  async write(location: string, data: Uint8Array): Promise<void> {
    const { bucket, key } = parseS3Location(location);
    try {
      await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data, ContentLength: data.byteLength }));
    } catch (e) {
      throw new Error(`cannot write ${location}: ${(e as Error).name}: ${(e as Error).message}`);
    }
  }

  async exists(location: string): Promise<boolean> {
    const { bucket, key } = parseS3Location(location);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw new Error(`cannot check ${location}: ${(e as Error).name}: ${(e as Error).message}`);
    }
  }

  async delete(location: string): Promise<void> {
    const { bucket, key } = parseS3Location(location);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    } catch (e) {
      if (isNotFound(e)) return;
      throw new Error(`cannot delete ${location}: ${(e as Error).name}: ${(e as Error).message}`);
    }
  }

  /** Every object under a location prefix (ListObjectsV2, page by page), for orphan file removal. */
  async list(prefix: string): Promise<{ location: string; modifiedMs: number }[]> {
    const m = /^(s3[an]?):\/\/([^/]+)\/?(.*)$/.exec(prefix);
    if (!m) throw new Error(`"${prefix}" is not an S3 location (expected s3://bucket/prefix)`);
    const [, scheme, bucket, key] = m;
    const out: { location: string; modifiedMs: number }[] = [];
    let token: string | undefined;
    do {
      let res;
      try {
        res = await this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, ContinuationToken: token }));
      } catch (e) {
        throw new Error(`cannot list ${prefix}: ${(e as Error).name}: ${(e as Error).message}`);
      }
      for (const o of res.Contents ?? []) if (o.Key) out.push({ location: `${scheme}://${bucket}/${o.Key}`, modifiedMs: o.LastModified?.getTime() ?? 0 });
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  /** Closes the client's sockets. */
  close(): void {
    this.client.destroy();
  }
}
