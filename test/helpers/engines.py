"""
Independent Iceberg readers for floe's engine test tier: one long-lived process (one Spark session
for the whole tier) that reads floe's tables with pyiceberg, DuckDB, Spark and polars and compares
every row with Postgres through an order-independent checksum of canonical values.

Started by test/helpers/engines-setup.ts with the venv of scripts/install-engines.sh. Listens on
127.0.0.1 (a free port, printed as "LISTENING <port>"), one JSON request per connection, one at a
time; exits when its stdin closes.

Canonical values (the same text for Postgres and every engine, keyed by the Iceberg type):
  int/long: decimal digits; float/double: the IEEE bits in big-endian hex ("NaN" for any NaN, so
  -0.0 and ±Inf are exact); decimal: the exact value without trailing zeros; date: days since
  1970-01-01; time: micros since midnight; timestamp(tz): micros since the epoch (UTC); uuid:
  lower-case hyphenated; binary/fixed: lower-case hex; boolean: true/false; string: the text;
  list: a JSON list of canonical elements. Postgres computes its side in SQL (not with floe's code).
A row is the JSON array of its canonical values in Iceberg schema order; the checksum is the sum
of the rows' SHA-256 (first 16 bytes) modulo 2^128, so it is order-independent and counts repeats.
"""

import decimal
import glob
import hashlib
import json
import os
import socketserver
import struct
import sys
import threading
import time
import traceback
import uuid

import pyarrow as pa

DEFAULT_ENGINES = ["pyiceberg", "duckdb", "spark", "polars"]
SESSION = "-c DateStyle=ISO,YMD -c TimeZone=UTC -c IntervalStyle=iso_8601 -c extra_float_digits=3 -c bytea_output=hex"

# ---- canonical values ---------------------------------------------------------------------------


def iceberg_kind(t):
    """'int', 'decimal', 'list:<kind>', ... from a pyiceberg type."""
    from pyiceberg import types as it

    if isinstance(t, it.ListType):
        return "list:" + iceberg_kind(t.element_type)
    if isinstance(t, it.DecimalType):
        return "decimal"
    if isinstance(t, it.FixedType):
        return "binary"
    return {
        it.BooleanType: "boolean",
        it.IntegerType: "int",
        it.LongType: "int",
        it.FloatType: "float",
        it.DoubleType: "double",
        it.DateType: "date",
        it.TimeType: "time",
        it.TimestampType: "timestamp",
        it.TimestamptzType: "timestamp",
        it.StringType: "string",
        it.UUIDType: "uuid",
        it.BinaryType: "binary",
    }.get(type(t), "unsupported:" + str(t))


def canon_decimal(d):
    """The exact value without trailing zeros or exponent ("-0" is "0")."""
    d = decimal.Decimal(d) if isinstance(d, str) else d
    return "0" if d == 0 else format(d.normalize(), "f")


UNITS = {"s": 1_000_000, "ms": 1000, "us": 1, "ns": None}


def micros_column(arr):
    """Timestamp / time / duration arrow array -> list of int micros (exact, no Python datetime)."""
    t = arr.type
    unit = t.unit
    if pa.types.is_time(t):
        ints = arr.cast(pa.int64() if pa.types.is_time64(t) else pa.int32()).to_pylist()
    else:
        ints = arr.cast(pa.int64()).to_pylist()
    if unit == "ns":
        return [None if v is None else (v // 1000 if v % 1000 == 0 else f"{v}ns") for v in ints]
    mul = UNITS[unit]
    return [None if v is None else v * mul for v in ints]


def canon_column(kind, arr):
    """An arrow array (any engine) of Iceberg kind -> list of canonical values."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], type=arr.type)
    t = arr.type
    if kind.startswith("list:"):
        inner = kind[5:]
        out = []
        for i in range(len(arr)):
            v = arr[i]
            if not v.is_valid:
                out.append(None)
            else:
                out.append(canon_column(inner, v.values))
        return out
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if kind in ("timestamp", "time"):
        if pa.types.is_integer(t):
            return [None if v is None else str(v) for v in arr.to_pylist()]
        return [None if v is None else str(v) for v in micros_column(arr)]
    if kind == "date":
        if pa.types.is_date32(t):
            return [None if v is None else str(v) for v in arr.cast(pa.int32()).to_pylist()]
        if pa.types.is_date64(t):
            return [None if v is None else str(v // 86_400_000) for v in arr.cast(pa.int64()).to_pylist()]
        return [None if v is None else str(v) for v in micros_column(arr)]  # some readers: a timestamp
    vals = arr.to_pylist()
    if kind == "int":
        return [None if v is None else str(int(v)) for v in vals]
    if kind in ("float", "double"):
        fmt = ">f" if kind == "float" else ">d"
        return [None if v is None else ("NaN" if v != v else struct.pack(fmt, v).hex()) for v in vals]
    if kind == "decimal":
        return [None if v is None else canon_decimal(v) for v in vals]
    if kind == "boolean":
        return [None if v is None else ("true" if v else "false") for v in vals]
    if kind == "uuid":
        out = []
        for v in vals:
            if v is None:
                out.append(None)
            elif isinstance(v, (bytes, bytearray)):
                out.append(str(uuid.UUID(bytes=bytes(v))))
            else:
                out.append(str(uuid.UUID(str(v))))
        return out
    if kind == "binary":
        return [None if v is None else bytes(v).hex() for v in vals]
    if kind == "string":
        return [None if v is None else (v if isinstance(v, str) else bytes(v).decode("utf-8")) for v in vals]
    raise ValueError(f"no canonical form for Iceberg kind {kind} (arrow type {t})")


def row_lines(columns, kinds, table):
    """Arrow table with `columns` (in order) -> canonical JSON lines."""
    cols = [canon_column(k, table.column(c)) for c, k in zip(columns, kinds)]
    n = table.num_rows
    return [json.dumps([c[i] for c in cols], separators=(",", ":"), ensure_ascii=False) for i in range(n)]


def checksum(lines):
    total = 0
    for line in lines:
        total = (total + int.from_bytes(hashlib.sha256(line.encode("utf-8")).digest()[:16], "big")) % (1 << 128)
    return f"{len(lines)}:{total:032x}"


# ---- Postgres, canonicalized by Postgres itself -------------------------------------------------

PG_COLUMNS = """
WITH RECURSIVE base(attnum, typid, depth) AS (
  SELECT a.attnum, a.atttypid, 0 FROM pg_attribute a
  WHERE a.attrelid = %(t)s::regclass AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT b.attnum, t.typbasetype, b.depth + 1 FROM base b JOIN pg_type t ON t.oid = b.typid WHERE t.typtype = 'd'
)
SELECT a.attname, t.typname, t.typcategory, e.typname AS elem, a.atttypmod
FROM pg_attribute a
JOIN LATERAL (SELECT typid FROM base WHERE base.attnum = a.attnum ORDER BY depth DESC LIMIT 1) b ON true
JOIN pg_type t ON t.oid = b.typid
LEFT JOIN pg_type e ON t.typcategory = 'A' AND e.oid = t.typelem
WHERE a.attrelid = %(t)s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


def pg_scalar(expr, typname):
    if typname in ("int2", "int4", "int8", "oid"):
        return f"({expr})::text"
    if typname == "float4":
        return f"CASE WHEN ({expr}) = 'NaN' THEN 'NaN' ELSE encode(float4send({expr}), 'hex') END"
    if typname == "float8":
        return f"CASE WHEN ({expr}) = 'NaN' THEN 'NaN' ELSE encode(float8send({expr}), 'hex') END"
    if typname == "bool":
        return f"CASE WHEN {expr} THEN 'true' WHEN NOT {expr} THEN 'false' END"
    if typname == "date":
        return f"(({expr}) - DATE '1970-01-01')::text"
    if typname in ("time", "timestamp", "timestamptz"):
        return f"(extract(epoch FROM {expr}) * 1000000)::bigint::text"
    if typname == "bytea":
        return f"encode({expr}, 'hex')"
    # The type's output text, as Postgres prints it (a cast of char(n) to text would trim its padding)
    return f"CASE WHEN ({expr}) IS NULL THEN NULL ELSE format('%s', {expr}) END"


def pg_expr(name, typname, elem, typmod):
    col = '"' + name.replace('"', '""') + '"'
    if elem:
        inner = pg_numeric("e", typmod) if elem == "numeric" else pg_scalar("e", elem)
        return f"CASE WHEN {col} IS NULL THEN NULL ELSE coalesce((SELECT json_agg({inner} ORDER BY o) FROM unnest({col}) WITH ORDINALITY u(e, o)), '[]'::json)::text END"
    if typname == "numeric":
        return pg_numeric(col, typmod)
    return pg_scalar(col, typname)


def pg_numeric(expr, typmod):
    """numeric(p,s) with p <= 38 is an Iceberg decimal (exact value); other numerics stay text."""
    precision = ((typmod - 4) >> 16) & 0xFFFF if typmod >= 4 else 0
    return f"trim_scale({expr})::text" if 0 < precision <= 38 else f"({expr})::text"


def postgres_lines(url, table, columns):
    import psycopg2

    conn = psycopg2.connect(url, options=SESSION)
    try:
        cur = conn.cursor()
        cur.execute(PG_COLUMNS, {"t": table})
        meta = {r[0]: r for r in cur.fetchall()}
        missing = [c for c in columns if c not in meta]
        extra = [c for c in meta if c not in columns]
        if missing or extra:
            raise ValueError(f"Postgres {table} and the Iceberg table differ in columns: only in Iceberg {missing}, only in Postgres {extra}")
        exprs = []
        arrays = []
        for c in columns:
            name, typname, _cat, elem, typmod = meta[c]
            exprs.append(pg_expr(name, typname, elem, typmod))
            arrays.append(bool(elem))
        cur.execute(f"SELECT {', '.join(exprs)} FROM {table}")
        out = []
        for row in cur.fetchall():
            vals = [json.loads(v) if a and v is not None else v for v, a in zip(row, arrays)]
            out.append(json.dumps(vals, separators=(",", ":"), ensure_ascii=False))
        return out
    finally:
        conn.close()


# ---- engines ------------------------------------------------------------------------------------


def local_path(location):
    return location[len("file://"):] if location.startswith("file://") else location


class Engines:
    def __init__(self, jars):
        self.jars = jars
        self.spark_root = None
        self.spark_lock = threading.Lock()
        self.spark_sessions = {}
        self.duck = None

    # pyiceberg: the SQL catalog (Iceberg's JDBC schema in Postgres)
    def pyiceberg_table(self, cat, ident):
        from pyiceberg.catalog.sql import SqlCatalog

        uri = cat["uri"].replace("postgres://", "postgresql+psycopg2://", 1)
        catalog = SqlCatalog(cat["name"], uri=uri, warehouse=cat["warehouse"])
        try:
            return catalog.load_table(ident)
        finally:
            catalog.engine.dispose()

    def read_pyiceberg(self, req, columns):
        return self.pyiceberg_table(req["catalog"], req["table"]).scan(selected_fields=tuple(columns)).to_arrow()

    def read_polars(self, req, columns):
        import polars as pl

        t = self.pyiceberg_table(req["catalog"], req["table"])
        return pl.scan_iceberg(t).select(columns).collect().to_arrow()

    # DuckDB: iceberg_scan of the metadata file, extensions loaded from the PyPI packages
    def duckdb(self, settings=None):
        """The tier's DuckDB connection, or with `settings` (a request's duckdbSettings, {} for the
        defaults) a new connection for one request: its own external file cache, so what earlier
        requests read cannot change what it reads."""
        if settings is not None:
            return self.new_duckdb(settings)
        if self.duck is None:
            self.duck = self.new_duckdb({})
        return self.duck

    def new_duckdb(self, settings):
        import duckdb
        import duckdb_extension_avro
        import duckdb_extension_iceberg

        con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False, **settings})
        for mod, name in ((duckdb_extension_avro, "avro"), (duckdb_extension_iceberg, "iceberg")):
            path = glob.glob(os.path.join(os.path.dirname(mod.__file__), "extensions", "*", f"{name}.duckdb_extension"))[0]
            con.execute(f"LOAD '{path}'")
        con.execute("SET TimeZone = 'UTC'")
        return con

    def duckdb_query(self, req, sql):
        settings = req.get("duckdbSettings")
        con = self.duckdb(settings)
        try:
            return con.execute(sql).to_arrow_table()
        finally:
            if settings is not None:
                con.close()

    def read_duckdb(self, req, columns):
        sel = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
        loc = local_path(req["metadata"]).replace("'", "''")
        return self.duckdb_query(req, f"SELECT {sel} FROM iceberg_scan('{loc}')")

    # Spark: JdbcCatalog on the same Postgres tables, default reader settings (vectorized)
    def spark_session(self):
        """The one Spark session of the tier (started in the background when the process starts)."""
        with self.spark_lock:
            if self.spark_root is None:
                self.spark_root = self.start_spark()
            return self.spark_root

    def start_spark(self):
        from pyspark.sql import SparkSession

        spark = (
            SparkSession.builder.master("local[2]")
            .appName("floe-engines")
            .config("spark.jars", ",".join(self.jars))
            # CALL <catalog>.system.* procedures (rewrite_data_files: another engine's compaction)
            .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        return spark

    def spark(self, cat):
        key = (cat["name"], cat["uri"], cat["warehouse"])
        s = self.spark_sessions.get(key)
        if s is not None:
            return s
        s = self.spark_session().newSession()
        # one JdbcCatalog per catalog database; the Spark catalog's name is the catalog_name column
        from urllib.parse import urlparse

        u = urlparse(cat["uri"])
        name = cat["name"]
        s.conf.set(f"spark.sql.catalog.{name}", "org.apache.iceberg.spark.SparkCatalog")
        s.conf.set(f"spark.sql.catalog.{name}.type", "jdbc")
        s.conf.set(f"spark.sql.catalog.{name}.uri", f"jdbc:postgresql://{u.hostname}:{u.port}{u.path}")
        s.conf.set(f"spark.sql.catalog.{name}.jdbc.user", u.username or "postgres")
        if u.password:
            s.conf.set(f"spark.sql.catalog.{name}.jdbc.password", u.password)
        s.conf.set(f"spark.sql.catalog.{name}.warehouse", cat["warehouse"])
        self.spark_sessions[key] = s
        return s

    def read_spark(self, req, columns):
        s = self.spark(req["catalog"])
        name = f"`{req['catalog']['name']}`." + ".".join(f"`{p}`" for p in req["table"].split("."))
        s.sql(f"REFRESH TABLE {name}")
        return s.table(name).select(*[f"`{c}`" for c in columns]).toArrow()


def describe(e):
    """An engine's error in one line: for Spark the root Java exception, not py4j's wrapper."""
    je = getattr(e, "java_exception", None)
    if je is not None:
        while je.getCause() is not None:
            je = je.getCause()
        return f"{je.getClass().getName()}: {je.getMessage()}"[:2000]
    return f"{type(e).__name__}: {str(e)[:2000]}"


def diff(expected, got, columns, limit=3):
    """The rows one side has and the other lacks, paired by their first column (the key), showing
    only the columns that differ: {key: {column: [postgres, engine]}} plus unpaired rows."""
    from collections import Counter

    a, b = Counter(expected), Counter(got)
    only_pg = [json.loads(l) for l in (a - b).elements()]
    only_engine = [json.loads(l) for l in (b - a).elements()]
    by_key = {json.dumps(r[0]): r for r in only_engine}
    pairs = {}
    unpaired_pg = []
    for r in only_pg:
        e = by_key.pop(json.dumps(r[0]), None)
        if e is None:
            unpaired_pg.append(r)
        elif len(pairs) < limit:
            pairs[str(r[0])] = {c: [x, y] for c, x, y in zip(columns, r, e) if x != y}
    return {
        "differing": pairs,
        "rowsDiffering": len(only_pg) - len(unpaired_pg),
        "onlyPostgres": [json.dumps(r, ensure_ascii=False) for r in unpaired_pg[:limit]],
        "onlyEngine": [json.dumps(r, ensure_ascii=False) for r in list(by_key.values())[:limit]],
    }


def apply_quirks(line, kinds, quirks):
    """What an engine is documented to read instead of the exact value (docs/engines.md)."""

    def fix(kind, v):
        if kind.startswith("list:"):
            if v is None:
                return [] if "null-list-as-empty" in quirks else None
            return [fix(kind[5:], e) for e in v]
        if v is None:
            return None
        if kind == "time" and "time-in-seconds" in quirks:
            return str(int(v) // 1_000_000)
        return v

    return json.dumps([fix(k, v) for k, v in zip(kinds, json.loads(line))], separators=(",", ":"), ensure_ascii=False)


def compare(engines, req):
    t = engines.pyiceberg_table(req["catalog"], req["table"])
    fields = t.schema().fields
    columns = [f.name for f in fields]
    kinds = [iceberg_kind(f.field_type) for f in fields]
    pg = postgres_lines(req["postgres"]["url"], req["postgres"]["table"], columns)
    expected = checksum(pg)
    out = {"columns": columns, "postgres": expected, "engines": {}}
    for engine in req.get("engines") or DEFAULT_ENGINES:
        started = time.monotonic()
        try:
            table = getattr(engines, "read_" + engine)(req, columns)
            lines = row_lines(columns, kinds, table)
        except Exception as e:  # an engine that cannot read the table is a result, not a crash
            out["engines"][engine] = {"error": describe(e), "seconds": round(time.monotonic() - started, 2)}
            continue
        got = checksum(lines)
        r = {"checksum": got, "expected": expected, "seconds": round(time.monotonic() - started, 2)}
        if got != expected:
            r.update(diff(pg, lines, columns))
        out["engines"][engine] = r
    # Rows read by an engine outside this process (chdb, from Node), already canonical.
    for engine, rows in (req.get("given") or {}).items():
        quirks = (req.get("quirks") or {}).get(engine) or []
        want = [apply_quirks(l, kinds, quirks) for l in pg] if quirks else pg
        lines = [json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in rows]
        got = checksum(lines)
        r = {"checksum": got, "expected": checksum(want)}
        if got != r["expected"]:
            r.update(diff(want, lines, columns))
        out["engines"][engine] = r
    return out


def inspect(engines, req):
    """pyiceberg's metadata tables over the table (they read every manifest field)."""
    t = engines.pyiceberg_table(req["catalog"], req["table"])
    out = {}
    for what in req.get("what", ["entries", "files", "manifests", "partitions", "snapshots"]):
        tab = getattr(t.inspect, what)()
        out[what] = json.loads(json.dumps(tab.to_pylist(), default=lambda v: v.hex() if isinstance(v, (bytes, bytearray)) else str(v)))
    return out


def sql(engines, req):
    """One query in one engine, rows as JSON (for engine-specific checks)."""
    engine = req["engine"]
    if engine == "duckdb":
        loc = local_path(req["metadata"]).replace("'", "''")
        table = engines.duckdb_query(req, req["sql"].replace("$TABLE", f"iceberg_scan('{loc}')"))
    elif engine == "spark":
        s = engines.spark(req["catalog"])
        name = f"`{req['catalog']['name']}`." + ".".join(f"`{p}`" for p in req["table"].split("."))
        try:
            s.sql(f"REFRESH TABLE {name}")
        except Exception as e:  # a statement that creates the table: nothing to refresh yet
            if "TABLE_OR_VIEW_NOT_FOUND" not in str(e):
                raise
        table = s.sql(req["sql"].replace("$TABLE", name)).toArrow()
    else:
        raise ValueError(f"sql: unknown engine {engine}")
    return {"rows": json.loads(json.dumps(table.to_pylist(), default=str))}


def types(engines, req):
    """The type each engine gives every column (for docs/engines.md)."""
    t = engines.pyiceberg_table(req["catalog"], req["table"])
    columns = [f.name for f in t.schema().fields]
    out = {"iceberg": {f.name: str(f.field_type) for f in t.schema().fields}}
    for engine in req.get("engines") or DEFAULT_ENGINES:
        try:
            if engine == "spark":
                s = engines.spark(req["catalog"])
                name = f"`{req['catalog']['name']}`." + ".".join(f"`{p}`" for p in req["table"].split("."))
                out[engine] = {f.name: f.dataType.simpleString() for f in s.table(name).schema.fields}
            elif engine == "duckdb":
                loc = local_path(req["metadata"]).replace("'", "''")
                out[engine] = {r[0]: r[1] for r in engines.duckdb().execute(f"DESCRIBE SELECT * FROM iceberg_scan('{loc}')").fetchall()}
            elif engine == "polars":
                import polars as pl

                out[engine] = {k: str(v) for k, v in pl.scan_iceberg(t).collect_schema().items()}
            else:
                out[engine] = {f.name: str(f.type) for f in engines.read_pyiceberg(req, columns).schema}
        except Exception as e:
            out[engine] = {"error": describe(e)}
    return out


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline()
        try:
            req = json.loads(line)
            op = {"compare": compare, "inspect": inspect, "sql": sql, "types": types}[req["op"]]
            res = {"ok": op(self.server.engines, req)}
        except Exception as e:
            res = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-4000:]}
        self.wfile.write((json.dumps(res) + "\n").encode("utf-8"))


def main():
    jars = sorted(glob.glob(os.path.join(sys.argv[1], "*.jar")))
    server = socketserver.TCPServer(("127.0.0.1", 0), Handler)
    server.engines = Engines(jars)

    def watchdog():
        while sys.stdin.read(1):
            pass
        os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    # Spark takes the longest to start: start it while the tests set up their databases.
    threading.Thread(target=server.engines.spark_session, daemon=True).start()
    print(f"LISTENING {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
