#!/usr/bin/env bash
# `npm run up`: the whole floe platform on this machine, through a real `pulumi up` of examples/local.
#   1. installs what is missing (scripts/setup.sh up): the machine's prerequisites checked up front
#      (pgbouncer and the Postgres client tools from Debian, Go when the Pulumi CLI must be built),
#      a supported Node.js, the unprivileged user `floe` that Postgres and pgBouncer run as when we
#      are root, npm dependencies, the TypeScript build, and the Pulumi CLI
#      (scripts/install-pulumi.sh: the one on PATH, else built once from its Go modules and cached);
#   2. `pulumi up --yes` of examples/local (file backend in examples/local/.pulumi-state, stack "local");
#   3. prints the pooler URL, where the Iceberg tables are, and a demo that can be run again and again.
# Environment: PULUMI_CONFIG_PASSPHRASE (default "floe-local", see docs/local.md), FLOE_STACK (default local).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
say() { printf '\033[1m[floe up]\033[0m %s\n' "$*" >&2; }

source scripts/node-env.sh
bash scripts/setup.sh up
PULUMI_BIN="$(bash scripts/install-pulumi.sh)"
export PATH="$PULUMI_BIN:$PATH"
source scripts/pulumi-env.sh

cd examples/local
mkdir -p .pulumi-state
STACK="${FLOE_STACK:-local}"
pulumi stack select --create "$STACK" --non-interactive >/dev/null
say "pulumi up (stack $STACK)"
start=$(date +%s)
pulumi up --yes --non-interactive --skip-preview --suppress-progress
say "pulumi up took $(( $(date +%s) - start ))s"

out() { pulumi stack output "$1" --show-secrets; }
URL="$(out connectionString)"
CATALOG="$(out catalogUri)"
WAREHOUSE="$(out warehouseLocation)"
# the REST catalog server (config restCatalog true): no such output when it is off
REST_URI="$(out restCatalogUri 2>/dev/null || true)"
REST_CREDENTIAL="$(out restCatalogCredential 2>/dev/null || true)"
# The node that runs the platform, spelled out when it is not the one on the user's PATH.
FLOE="${FLOE_NODE_BIN:+$FLOE_NODE_BIN/}node $ROOT/dist/runtime/cli.js"
cat <<MSG

floe is up (stack "$STACK"; state in examples/local/.pulumi-state; files in $(out dataDir)).

  Connect (pgBouncer):   psql '$URL'
  Iceberg tables:        ${WAREHOUSE#file://}/<namespace>/<table>  (SQL catalog: $CATALOG)
  Query them (chdb):     export FLOE_CATALOG_URI='$CATALOG'
                         $FLOE query "SELECT count() FROM floe.demo"
  CDC writer:            $(out cdcHealthUrl)/healthz   log: $(out cdcLog)
  Pulumi, for this stack: npm run -s pulumi -- stack output   (any pulumi command; see docs/local.md)

Demo: insert a row in Postgres, see it in Iceberg about a second later (run it as often as you like):

  psql '$URL' -c "CREATE TABLE IF NOT EXISTS demo (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text, at timestamptz DEFAULT now()); INSERT INTO demo (note) VALUES ('hello iceberg')"; sleep 3; FLOE_CATALOG_URI='$CATALOG' $FLOE query "SELECT * FROM floe.demo ORDER BY id"

Stop and remove the platform: npm run down (the stack's state stays; npm run down -- --remove drops it too)
MSG
if [ -n "$REST_URI" ]; then
  cat <<MSG

Iceberg REST catalog: $REST_URI  (OAuth2 client credentials '$REST_CREDENTIAL'; docs/engines.md)
  pyiceberg:  RestCatalog("floe", uri="$REST_URI", credential="$REST_CREDENTIAL").load_table("floe.demo").scan().to_arrow()
  DuckDB:     LOAD httpfs; LOAD iceberg;
              CREATE SECRET floe_rest (TYPE iceberg, CLIENT_ID '${REST_CREDENTIAL%%:*}', CLIENT_SECRET '${REST_CREDENTIAL#*:}', OAUTH2_SERVER_URI '$REST_URI/v1/oauth/tokens');
              ATTACH '' AS lake (TYPE iceberg, ENDPOINT '$REST_URI', SECRET floe_rest); SELECT * FROM lake.floe.demo;
MSG
else
  cat <<MSG

Iceberg REST catalog: off. For engines that attach to a REST catalog (pyiceberg, DuckDB, Spark, Trino),
  npm run -s pulumi -- config set restCatalog true && npm run up   (needs a JDK 17+ and Maven; docs/local.md)
MSG
fi
