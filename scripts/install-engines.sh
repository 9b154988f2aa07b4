#!/usr/bin/env bash
# Installs the independent Iceberg readers of the engine test tier (test/engines/), from PyPI and
# Maven Central only, into one cached directory; idempotent (a second run takes milliseconds).
#   - a Python venv with pyiceberg (SqlCatalog on Postgres), DuckDB with its iceberg and avro
#     extensions as PyPI ships them (loaded from the venv: nothing is downloaded at run time), and
#     httpfs (what DuckDB's iceberg ATTACH to a REST catalog speaks HTTP with), pyspark and polars
#   - the Iceberg Spark runtime and the Postgres JDBC driver jars, for Spark's JdbcCatalog
# chdb is the npm package floe already depends on. Prints the install directory on stdout.
# Needs python3 (3.10+), java (17+) and mvn.
set -euo pipefail

DUCKDB_VERSION=1.5.5
PYICEBERG_VERSION=0.12.0
PYSPARK_VERSION=4.1.4
SPARK_MINOR=4.1
ICEBERG_VERSION=1.11.0
POLARS_VERSION=2.1.0
PGJDBC_VERSION=42.7.14

CACHE="${FLOE_CACHE:-$HOME/.cache/floe}"
TAG="duckdb$DUCKDB_VERSION-pyiceberg$PYICEBERG_VERSION-spark$PYSPARK_VERSION-iceberg$ICEBERG_VERSION-polars$POLARS_VERSION-pgjdbc$PGJDBC_VERSION"
DIR="$CACHE/engines-$(printf %s "$TAG" | sha256sum | cut -c1-12)"
STAMP="$DIR/.installed"

mkdir -p "$CACHE"
# parallel test workers may all call this: one installs, the others wait and reuse it
exec 9>"$CACHE/.install-engines.lock"
flock 9

# DuckDB's httpfs extension came after the first installs: added to an existing venv in place
HTTPFS="duckdb-extension-httpfs==$DUCKDB_VERSION"
if [[ -f "$STAMP" ]]; then
  if ! compgen -G "$DIR/venv/lib/python3*/site-packages/duckdb_extension_httpfs" >/dev/null; then
    "$DIR/venv/bin/pip" install -q --disable-pip-version-check "$HTTPFS" >&2
  fi
  echo "$DIR"
  exit 0
fi

for tool in python3 java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install-engines: '$tool' is not on PATH; install python3 (with venv), a JDK 17+ and Maven (apt-get install python3-venv openjdk-17-jdk-headless maven)" >&2
    exit 1
  fi
done

say() { printf '\033[1m[floe engines]\033[0m %s\n' "$*" >&2; }
start=$(date +%s)
rm -rf "$DIR.tmp"
mkdir -p "$DIR.tmp/jars"

say "Python readers into a venv (duckdb $DUCKDB_VERSION + iceberg/avro/httpfs extensions, pyiceberg $PYICEBERG_VERSION, pyspark $PYSPARK_VERSION, polars $POLARS_VERSION)"
python3 -m venv "$DIR.tmp/venv" >&2
"$DIR.tmp/venv/bin/pip" install -q --disable-pip-version-check \
  "duckdb==$DUCKDB_VERSION" "duckdb-extension-iceberg==$DUCKDB_VERSION" "duckdb-extension-avro==$DUCKDB_VERSION" "$HTTPFS" \
  "pyiceberg[sql-postgres,pyarrow]==$PYICEBERG_VERSION" "pyspark==$PYSPARK_VERSION" "polars==$POLARS_VERSION" >&2

say "Spark jars from Maven Central (iceberg-spark-runtime-${SPARK_MINOR}_2.13 $ICEBERG_VERSION, postgresql $PGJDBC_VERSION)"
for artifact in "org.apache.iceberg:iceberg-spark-runtime-${SPARK_MINOR}_2.13:$ICEBERG_VERSION" "org.postgresql:postgresql:$PGJDBC_VERSION"; do
  mvn -q -B -Dstyle.color=never dependency:copy -Dartifact="$artifact" -DoutputDirectory="$DIR.tmp/jars" >&2
done

rm -rf "$DIR"
mv "$DIR.tmp" "$DIR"
# venv scripts hard-code the interpreter path: rewrite them after the move
grep -rl "^#!$DIR.tmp/venv/bin/python" "$DIR/venv/bin" | xargs -r sed -i "1s|^#!$DIR.tmp/venv/|#!$DIR/venv/|"
sed -i "s|$DIR.tmp/venv|$DIR/venv|g" "$DIR/venv/bin/activate" "$DIR/venv/pyvenv.cfg"
printf '%s\n' "$TAG" > "$STAMP"
say "installed in $DIR ($(( $(date +%s) - start )) s)"
echo "$DIR"
