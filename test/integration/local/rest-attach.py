"""Attaches pyiceberg and DuckDB to an Iceberg REST catalog the way a user would (docs/engines.md,
"The local REST catalog"), reads one table and prints JSON: each engine's rows as
[id, note, amount as text, at as epoch microseconds], sorted, and what each engine said when it
attached without credentials (the server must refuse it).

usage: python rest-attach.py URI CLIENT_ID:CLIENT_SECRET NAMESPACE TABLE
Run with the engine tier's venv (scripts/install-engines.sh): pyiceberg, duckdb and its iceberg,
avro and httpfs extensions from PyPI, loaded from the venv (nothing downloaded at run time).
"""
import glob
import json
import os
import sys

uri, credential, namespace, table = sys.argv[1:5]
client_id, client_secret = credential.split(":", 1)
out = {}


def canon(rows):
    return sorted([[int(r[0]), r[1], None if r[2] is None else str(r[2]), None if r[3] is None else int(r[3])] for r in rows])


# pyiceberg: a RestCatalog with OAuth2 client credentials
from pyiceberg.catalog.rest import RestCatalog
import pyarrow.compute as pc

cat = RestCatalog("floe", uri=uri, credential=credential)
arrow = cat.load_table(f"{namespace}.{table}").scan().to_arrow()
micros = pc.cast(arrow.column("at"), "int64").to_pylist()  # timestamptz is µs since the epoch (UTC)
out["pyiceberg"] = canon(zip(arrow.column("id").to_pylist(), arrow.column("note").to_pylist(), arrow.column("amount").to_pylist(), micros))
try:
    RestCatalog("floe", uri=uri).load_table(f"{namespace}.{table}")
    out["pyicebergWithoutCredential"] = "read the table"
except Exception as e:  # noqa: BLE001 - the error is the result
    out["pyicebergWithoutCredential"] = f"{type(e).__name__}: {e}"

# DuckDB: ATTACH the REST catalog with an iceberg secret (client credentials)
import duckdb
import duckdb_extension_avro
import duckdb_extension_httpfs
import duckdb_extension_iceberg


def duck():
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    for mod, name in ((duckdb_extension_httpfs, "httpfs"), (duckdb_extension_avro, "avro"), (duckdb_extension_iceberg, "iceberg")):
        path = glob.glob(os.path.join(os.path.dirname(mod.__file__), "extensions", "*", f"{name}.duckdb_extension"))[0]
        con.execute(f"LOAD '{path}'")
    return con


con = duck()
con.execute(f"CREATE SECRET floe_rest (TYPE iceberg, CLIENT_ID '{client_id}', CLIENT_SECRET '{client_secret}', OAUTH2_SERVER_URI '{uri}/v1/oauth/tokens')")
con.execute(f"ATTACH '' AS lake (TYPE iceberg, ENDPOINT '{uri}', SECRET floe_rest)")
out["duckdb"] = canon(con.execute(f'SELECT id, note, amount::VARCHAR, epoch_us("at") FROM lake."{namespace}"."{table}"').fetchall())
try:
    bare = duck()
    bare.execute(f"ATTACH '' AS lake (TYPE iceberg, ENDPOINT '{uri}', AUTHORIZATION_TYPE 'none')")
    bare.execute(f'SELECT count(*) FROM lake."{namespace}"."{table}"').fetchall()
    out["duckdbWithoutCredential"] = "read the table"
except Exception as e:  # noqa: BLE001
    out["duckdbWithoutCredential"] = f"{type(e).__name__}: {e}"

print(json.dumps(out))
