#!/usr/bin/env bash
# Installs Apache Iceberg's REST catalog test fixture (RESTCatalogServer's adapter and servlet,
# from Maven Central) plus a tiny launcher that binds it to 127.0.0.1 on a chosen or free port.
# Idempotent; cached under $FLOE_CACHE (default ~/.cache/floe)/iceberg-rest-<version>.
# Prints the install directory on stdout. Needs java (17+), javac and mvn.
#
# Start it:  java -cp "$DIR/classes:$DIR/lib/*" org.apache.iceberg.rest.FloeRestFixture WAREHOUSE SQLITE [PORT]
# It prints "LISTENING <port>" when ready and exits when its stdin closes.
#
# Also installs moto's S3-compatible server (PyPI `moto[server]`) into a venv for the S3 FileIO
# tests: $CACHE/moto-$MOTO_VERSION/bin/moto_server (skip with FLOE_SKIP_MOTO=1).
set -euo pipefail

ICEBERG_VERSION="${ICEBERG_REST_VERSION:-1.10.0}"
CACHE="${FLOE_CACHE:-$HOME/.cache/floe}"
DIR="$CACHE/iceberg-rest-$ICEBERG_VERSION"
STAMP="$DIR/.installed-v3"

# parallel test workers may all call this: one installs, the others wait and reuse it
mkdir -p "$CACHE"
exec 9>"$CACHE/.install-iceberg-rest.lock"
flock 9

MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
MOTO_DIR="$CACHE/moto-$MOTO_VERSION"
if [[ "${FLOE_SKIP_MOTO:-}" != "1" && ! -x "$MOTO_DIR/bin/moto_server" ]]; then
  if ! command -v python3 >/dev/null 2>&1; then
    echo "install-iceberg-rest: python3 is needed for moto_server (S3 tests)" >&2
    exit 1
  fi
  rm -rf "$MOTO_DIR.tmp"
  python3 -m venv "$MOTO_DIR.tmp" >&2
  "$MOTO_DIR.tmp/bin/pip" install -q "moto[server]==$MOTO_VERSION" >&2
  rm -rf "$MOTO_DIR"
  mv "$MOTO_DIR.tmp" "$MOTO_DIR"
  # venv scripts hard-code the interpreter path: rewrite it after the move
  sed -i "1s|.*|#!$MOTO_DIR/bin/python3|" "$MOTO_DIR/bin/moto_server"
fi

if [[ -f "$STAMP" ]]; then
  echo "$DIR"
  exit 0
fi

for tool in java javac mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install-iceberg-rest: '$tool' is not on PATH; install a JDK 17+ and Maven (apt-get install openjdk-17-jdk-headless maven)" >&2
    exit 1
  fi
done

mkdir -p "$DIR/src/org/apache/iceberg/rest"
cat > "$DIR/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>floe.test</groupId>
  <artifactId>iceberg-rest-fixture</artifactId>
  <version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.iceberg</groupId><artifactId>iceberg-open-api</artifactId><version>$ICEBERG_VERSION</version><classifier>test-fixtures</classifier></dependency>
    <dependency><groupId>org.apache.iceberg</groupId><artifactId>iceberg-core</artifactId><version>$ICEBERG_VERSION</version></dependency>
    <dependency><groupId>org.apache.iceberg</groupId><artifactId>iceberg-core</artifactId><version>$ICEBERG_VERSION</version><classifier>tests</classifier></dependency>
    <dependency><groupId>org.eclipse.jetty</groupId><artifactId>jetty-servlet</artifactId><version>11.0.25</version></dependency>
    <dependency><groupId>org.xerial</groupId><artifactId>sqlite-jdbc</artifactId><version>3.49.1.0</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>2.0.17</version></dependency>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-client-api</artifactId><version>3.4.1</version></dependency>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-client-runtime</artifactId><version>3.4.1</version></dependency>
    <!-- S3FileIO on the server side, for tables in S3-compatible storage (CATALOG_IO__IMPL) -->
    <dependency><groupId>org.apache.iceberg</groupId><artifactId>iceberg-aws</artifactId><version>$ICEBERG_VERSION</version></dependency>
    <dependency><groupId>org.apache.iceberg</groupId><artifactId>iceberg-aws-bundle</artifactId><version>$ICEBERG_VERSION</version></dependency>
  </dependencies>
</project>
POM

cat > "$DIR/src/org/apache/iceberg/rest/FloeRestFixture.java" <<'JAVA'
package org.apache.iceberg.rest;

import java.util.HashMap;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.CatalogUtil;
import org.apache.iceberg.catalog.Catalog;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.gzip.GzipHandler;
import org.eclipse.jetty.servlet.ServletContextHandler;
import org.eclipse.jetty.servlet.ServletHolder;

/**
 * Runs Iceberg's REST catalog fixture (RESTServerCatalogAdapter over a JdbcCatalog on SQLite,
 * HadoopFileIO on a local warehouse) as RESTCatalogServer does, but bound to 127.0.0.1 and on any
 * port (0 = a free one). Prints "LISTENING <port>" when ready; exits when stdin closes.
 * Extra catalog properties come from CATALOG_* environment variables, as in the fixture.
 */
public class FloeRestFixture {
  public static void main(String[] args) throws Exception {
    String warehouse = args[0];
    String sqlite = args[1];
    int port = args.length > 2 ? Integer.parseInt(args[2]) : 0;

    Map<String, String> props = new HashMap<>(RCKUtils.environmentCatalogConfig());
    props.putIfAbsent("catalog-impl", "org.apache.iceberg.jdbc.JdbcCatalog");
    props.putIfAbsent("uri", "jdbc:sqlite:file:" + sqlite);
    props.putIfAbsent("jdbc.schema-version", "V1");
    props.putIfAbsent("warehouse", warehouse);
    Catalog catalog = CatalogUtil.buildIcebergCatalog("rest_backend", props, new Configuration());

    RESTCatalogAdapter adapter =
        new RESTServerCatalogAdapter(new RESTCatalogServer.CatalogContext(catalog, props));
    ServletContextHandler context = new ServletContextHandler(ServletContextHandler.NO_SESSIONS);
    context.addServlet(new ServletHolder(new RESTCatalogServlet(adapter)), "/*");
    context.insertHandler(new GzipHandler());

    Server server = new Server();
    ServerConnector connector = new ServerConnector(server);
    connector.setHost("127.0.0.1");
    connector.setPort(port);
    server.addConnector(connector);
    server.setHandler(context);
    server.start();
    System.out.println("LISTENING " + connector.getLocalPort());
    System.out.flush();

    Thread watchdog =
        new Thread(
            () -> {
              try {
                while (System.in.read() != -1) {
                  // parent alive
                }
              } catch (Exception ignored) {
                // stdin gone
              }
              try {
                server.stop();
              } catch (Exception ignored) {
                // exiting anyway
              }
              System.exit(0);
            });
    watchdog.setDaemon(true);
    watchdog.start();
    server.join();
  }
}
JAVA

cd "$DIR"
rm -rf lib classes
mvn -q -B -Dstyle.color=never -f pom.xml dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime >&2
mkdir -p classes
javac -nowarn -d classes -cp "lib/*" src/org/apache/iceberg/rest/FloeRestFixture.java >&2
touch "$STAMP"
echo "$DIR"
