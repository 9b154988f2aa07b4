/**
 * A table in S3-compatible storage end to end: the REST fixture keeps metadata in S3 (moto, via
 * Iceberg's Java S3FileIO) and vends the S3 credentials in each table's config; the writer puts
 * data files and manifests there through our S3FileIO configured only from that vended config
 * (plus the endpoint); chdb reads the table straight from S3 with its own Iceberg reader.
 */
import { CreateBucketCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { RestCatalog } from "../../../runtime/iceberg/rest";
import { S3FileIO } from "../../../runtime/iceberg/s3";
import { Table } from "../../../runtime/iceberg/table";
import { INSTALL_TIMEOUT_MS, MotoS3Server, RestCatalogServer, s3CatalogEnv, startMotoS3, startRestCatalog } from "../../helpers/iceberg-rest";

const chdb = require("chdb") as { query(sql: string, format: string): string };

const KEY = "floe-test-key";
const SECRET = "floe-test-secret";
let moto: MotoS3Server;
let server: RestCatalogServer;
let admin: S3FileIO;

beforeAll(async () => {
  moto = await startMotoS3();
  admin = new S3FileIO({ endpoint: moto.endpoint, forcePathStyle: true, credentials: { accessKeyId: KEY, secretAccessKey: SECRET } });
  await admin.client.send(new CreateBucketCommand({ Bucket: "lake" }));
  server = await startRestCatalog({
    env: s3CatalogEnv({ endpoint: moto.endpoint, warehouse: "s3://lake/wh", accessKeyId: KEY, secretAccessKey: SECRET, vend: true }),
  });
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  admin?.close();
  await server?.stop();
  await moto?.stop();
});

test("writer -> S3 (moto) + REST commit; chdb reads it back from S3", async () => {
  // no credentials here: they must come from the table config the catalog vends
  const catalog = await RestCatalog.connect({ uri: server.uri, s3: { endpoint: moto.endpoint, forcePathStyle: true, region: "us-east-1" } });
  try {
    await catalog.createNamespace(["db"]);
    const id = { namespace: ["db"], name: "s3_orders" };
    const table = await Table.create(catalog, id, {
      columns: [
        { name: "id", type: "long", required: true },
        { name: "note", type: "string" },
      ],
      identifier: ["id"],
    });
    expect(table.metadata.location).toBe("s3://lake/wh/db/s3_orders");
    const loaded = await catalog.loadTable(id);
    expect(loaded.config?.["s3.access-key-id"]).toBe(KEY);
    expect(catalog.fileIO(loaded)).toBeInstanceOf(S3FileIO);

    await table
      .newWrite()
      .upsert([1n, 2n, 3n, 4n].map((i) => ({ id: i, note: `n${i}` })))
      .commit();
    await table
      .newWrite()
      .upsert([{ id: 2n, note: "two" }])
      .delete([{ id: 3n }])
      .commit();

    const keys = ((await admin.client.send(new ListObjectsV2Command({ Bucket: "lake", Prefix: "wh/db/s3_orders/" }))).Contents ?? []).map((o) => o.Key!);
    expect(keys.some((k) => k.endsWith(".parquet"))).toBe(true);
    expect(keys.some((k) => k.endsWith(".avro"))).toBe(true);
    expect(keys.filter((k) => k.endsWith(".metadata.json")).length).toBeGreaterThanOrEqual(3);

    const out = chdb.query(
      `SELECT toString(id) AS id, note FROM icebergS3('${moto.endpoint}/lake/wh/db/s3_orders/', '${KEY}', '${SECRET}') ORDER BY toInt64(id)`,
      "JSONEachRow",
    );
    expect(
      out
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { id: "1", note: "n1" },
      { id: "2", note: "two" },
      { id: "4", note: "n4" },
    ]);
  } finally {
    catalog.close();
  }
});
