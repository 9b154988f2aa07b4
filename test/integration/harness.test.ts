import { startPostgres, TestPostgres } from "../helpers/postgres";

describe("postgres harness", () => {
  let pg: TestPostgres;
  beforeAll(async () => {
    pg = await startPostgres({ major: 16 });
  });
  afterAll(async () => pg?.stop());

  it("runs the requested major with logical decoding on a loopback port", async () => {
    const [{ server_version_num }] = await pg.sql("SHOW server_version_num");
    expect(Math.floor(Number(server_version_num) / 10000)).toBe(16);
    const [{ wal_level }] = await pg.sql("SHOW wal_level");
    expect(wal_level).toBe("logical");
    const [{ listen_addresses }] = await pg.sql("SHOW listen_addresses");
    expect(listen_addresses).toBe("127.0.0.1");
  });
});
