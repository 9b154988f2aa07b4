/**
 * S3FileIO against a real S3-compatible server (moto_server from PyPI, on 127.0.0.1), through
 * the real AWS SDK: path-style addressing, custom endpoint, static credentials.
 */
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { S3FileIO, parseS3Location } from "../../../runtime/iceberg/s3";
import { INSTALL_TIMEOUT_MS, MotoS3Server, startMotoS3 } from "../../helpers/iceberg-rest";

let moto: MotoS3Server;
let io: S3FileIO;

beforeAll(async () => {
  moto = await startMotoS3();
  io = new S3FileIO({
    endpoint: moto.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  await io.client.send(new CreateBucketCommand({ Bucket: "lake" }));
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  io?.close();
  await moto?.stop();
});

test("write, exists, read back byte for byte, delete", async () => {
  const loc = "s3://lake/db/t/data/00000-0-a.parquet";
  const data = new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => (i * 31) % 251);
  expect(await io.exists(loc)).toBe(false);
  await io.write(loc, data);
  expect(await io.exists(loc)).toBe(true);
  const back = await io.read(loc);
  expect(back.byteLength).toBe(data.byteLength);
  expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
  await io.delete(loc);
  expect(await io.exists(loc)).toBe(false);
  // deleting a missing file is not an error
  await io.delete(loc);
});

test("s3a:// locations and Iceberg property names (as a REST catalog hands them out)", async () => {
  const fromProps = S3FileIO.fromProperties({
    "s3.endpoint": moto.endpoint,
    "s3.path-style-access": "true",
    "s3.access-key-id": "test",
    "s3.secret-access-key": "test",
    "client.region": "us-east-1",
  });
  try {
    await fromProps.write("s3a://lake/m/v1.metadata.json", new TextEncoder().encode('{"format-version":2}'));
    expect(new TextDecoder().decode(await io.read("s3://lake/m/v1.metadata.json"))).toBe('{"format-version":2}');
  } finally {
    fromProps.close();
  }
});

test("clear errors: missing object, missing bucket, not an S3 location", async () => {
  await expect(io.read("s3://lake/nope.json")).rejects.toThrow("cannot read s3://lake/nope.json: no such object");
  await expect(io.write("s3://no-such-bucket/x", new Uint8Array([1]))).rejects.toThrow(/cannot write s3:\/\/no-such-bucket\/x: NoSuchBucket/);
  expect(() => parseS3Location("/tmp/x")).toThrow(/not an S3 location/);
});
