#!/usr/bin/env bash
# Installs Apache Iceberg's REST catalog server (RESTCatalogServer's adapter and servlet, the
# `iceberg-open-api` test-fixtures jar, from Maven Central) plus a tiny launcher that binds it to
# 127.0.0.1 on a chosen or free port. Used by the tests (a JdbcCatalog on SQLite) and by the local
# platform's catalog server (a JdbcCatalog on the local Postgres: components/catalog/localRestServer.ts).
# Idempotent; cached under $FLOE_CACHE (default ~/.cache/floe)/iceberg-rest-<version>-<layout>.
# Prints the install directory on stdout. Needs java (17+), javac and mvn.
#
# Start it:  java -cp "$DIR/classes:$DIR/lib/*" org.apache.iceberg.rest.FloeRestFixture WAREHOUSE SQLITE|- [PORT]
# It prints "LISTENING <port>" when ready and exits when its stdin closes. Environment:
#   CATALOG_*                catalog properties, as in Iceberg's fixture (CATALOG_URI=jdbc:postgresql://…,
#                            CATALOG_JDBC_USER, CATALOG_JDBC_PASSWORD, …); they win over the arguments
#   FLOE_REST_NAME           the catalog's name (the JDBC catalog's catalog_name). Defaults to rest_backend.
#   FLOE_REST_WATCH_STDIN=0  keep running when stdin closes (a supervised server)
#   FLOE_REST_CREDENTIAL     "client_id:client_secret": every request then needs a bearer token, which
#                            POST /v1/oauth/tokens grants for those client credentials (OAuth2)
#
# Also installs moto's S3-compatible server (PyPI `moto[server]`) into a venv for the S3 FileIO
# tests: $CACHE/moto-$MOTO_VERSION/bin/moto_server (skip with FLOE_SKIP_MOTO=1).
set -euo pipefail

ICEBERG_VERSION="${ICEBERG_REST_VERSION:-1.10.0}"
CACHE="${FLOE_CACHE:-$HOME/.cache/floe}"
# the layout (dependencies, launcher) is part of the name: a new one never touches a directory in use
DIR="$CACHE/iceberg-rest-$ICEBERG_VERSION-l4"
STAMP="$DIR/.installed"

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
    <!-- the local platform's catalog: a JdbcCatalog in the local Postgres -->
    <dependency><groupId>org.postgresql</groupId><artifactId>postgresql</artifactId><version>42.7.14</version></dependency>
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

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.CatalogUtil;
import org.apache.iceberg.catalog.Catalog;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.HandlerWrapper;
import org.eclipse.jetty.server.handler.gzip.GzipHandler;
import org.eclipse.jetty.servlet.ServletContextHandler;
import org.eclipse.jetty.servlet.ServletHolder;

/**
 * Runs Iceberg's REST catalog fixture (RESTServerCatalogAdapter over a JdbcCatalog, HadoopFileIO on
 * a local warehouse) as RESTCatalogServer does, but bound to 127.0.0.1 and on any port (0 = a free
 * one). Prints "LISTENING <port>" when ready; exits when stdin closes unless FLOE_REST_WATCH_STDIN=0.
 * Catalog properties come from CATALOG_* environment variables, as in the fixture, and win over the
 * arguments. With FLOE_REST_CREDENTIAL ("client_id:client_secret") every request needs a bearer
 * token, granted by POST /v1/oauth/tokens for those client credentials (the fixture's own token
 * route checks nothing).
 */
public class FloeRestFixture {
  public static void main(String[] args) throws Exception {
    String warehouse = args[0];
    String sqlite = args[1];
    int port = args.length > 2 ? Integer.parseInt(args[2]) : 0;
    String name = System.getenv().getOrDefault("FLOE_REST_NAME", "rest_backend");

    Map<String, String> props = new HashMap<>(RCKUtils.environmentCatalogConfig());
    props.putIfAbsent("catalog-impl", "org.apache.iceberg.jdbc.JdbcCatalog");
    if (!"-".equals(sqlite)) props.putIfAbsent("uri", "jdbc:sqlite:file:" + sqlite);
    props.putIfAbsent("jdbc.schema-version", "V1");
    props.putIfAbsent("warehouse", warehouse);
    Catalog catalog = CatalogUtil.buildIcebergCatalog(name, props, new Configuration());

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
    String credential = System.getenv("FLOE_REST_CREDENTIAL");
    if (credential != null && !credential.isEmpty()) {
      ClientCredentials auth = new ClientCredentials(credential);
      auth.setHandler(context);
      server.setHandler(auth);
    } else {
      server.setHandler(context);
    }
    server.start();
    System.out.println("LISTENING " + connector.getLocalPort());
    System.out.flush();

    if (!"0".equals(System.getenv("FLOE_REST_WATCH_STDIN"))) {
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
    }
    server.join();
  }

  /**
   * OAuth2 client credentials in front of the catalog: POST /v1/oauth/tokens grants a bearer token
   * for the configured client (grant client_credentials, or token-exchange of a valid token, as
   * Iceberg's Java client refreshes); every other request needs that token. The token is an HMAC
   * of the secret, so it stays valid across restarts of the server.
   */
  static final class ClientCredentials extends HandlerWrapper {
    private final String clientId;
    private final byte[] secret;
    private final String token;

    ClientCredentials(String credential) throws Exception {
      int colon = credential.indexOf(':');
      if (colon < 1) throw new IllegalArgumentException("FLOE_REST_CREDENTIAL must be client_id:client_secret");
      clientId = credential.substring(0, colon);
      secret = credential.substring(colon + 1).getBytes(StandardCharsets.UTF_8);
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret, "HmacSHA256"));
      token = HexFormat.of().formatHex(mac.doFinal("floe-local-rest-catalog".getBytes(StandardCharsets.UTF_8)));
    }

    private static boolean same(String a, byte[] b) {
      return a != null && MessageDigest.isEqual(a.getBytes(StandardCharsets.UTF_8), b);
    }

    private boolean validToken(String t) {
      return same(t, token.getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public void handle(String target, Request base, HttpServletRequest req, HttpServletResponse res)
        throws IOException, jakarta.servlet.ServletException {
      String path = req.getRequestURI();
      if (path.endsWith("/v1/oauth/tokens") && "POST".equals(req.getMethod())) {
        base.setHandled(true);
        grant(req, res);
        return;
      }
      String header = req.getHeader("Authorization");
      if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7) || !validToken(header.substring(7).trim())) {
        base.setHandled(true);
        res.setStatus(401);
        res.setContentType("application/json");
        res.getWriter().write("{\"error\":{\"message\":\"Not authorized: a bearer token from POST /v1/oauth/tokens (client credentials) is required\",\"type\":\"NotAuthorizedException\",\"code\":401}}");
        return;
      }
      super.handle(target, base, req, res);
    }

    private void grant(HttpServletRequest req, HttpServletResponse res) throws IOException {
      String grantType = req.getParameter("grant_type");
      String id = req.getParameter("client_id");
      String sec = req.getParameter("client_secret");
      String basic = req.getHeader("Authorization");
      if (basic != null && basic.regionMatches(true, 0, "Basic ", 0, 6)) {
        String pair = new String(Base64.getDecoder().decode(basic.substring(6).trim()), StandardCharsets.UTF_8);
        int c = pair.indexOf(':');
        if (c >= 0) {
          id = java.net.URLDecoder.decode(pair.substring(0, c), StandardCharsets.UTF_8);
          sec = java.net.URLDecoder.decode(pair.substring(c + 1), StandardCharsets.UTF_8);
        }
      }
      boolean ok;
      if ("client_credentials".equals(grantType)) {
        ok = clientId.equals(id) && same(sec, secret);
      } else if ("urn:ietf:params:oauth:grant-type:token-exchange".equals(grantType)) {
        ok = validToken(req.getParameter("subject_token"));
      } else {
        res.setStatus(400);
        res.setContentType("application/json");
        res.getWriter().write("{\"error\":\"unsupported_grant_type\",\"error_description\":\"use client_credentials\"}");
        return;
      }
      res.setContentType("application/json");
      if (!ok) {
        res.setStatus(401);
        res.getWriter().write("{\"error\":\"invalid_client\",\"error_description\":\"unknown client or wrong secret\"}");
        return;
      }
      res.setStatus(200);
      res.getWriter().write("{\"access_token\":\"" + token + "\",\"token_type\":\"bearer\",\"issued_token_type\":\"urn:ietf:params:oauth:token-type:access_token\",\"expires_in\":3600}");
    }
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
