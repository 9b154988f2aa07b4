#!/usr/bin/env bash
# `npm run up`: the whole floe platform on this machine, through a real `pulumi up` of examples/local.
#   1. installs what is missing (scripts/setup.sh): npm dependencies, pgbouncer (apt-get), the
#      unprivileged user `floe` that Postgres and pgBouncer run as when we are root, the TypeScript
#      build, and the Pulumi CLI (scripts/install-pulumi.sh: the one on PATH, else built once from
#      its Go modules and cached);
#   2. `pulumi up --yes` of examples/local (file backend in examples/local/.pulumi-state, stack "local");
#   3. prints the pooler URL, where the Iceberg tables are, and a one-line demo.
# Environment: PULUMI_CONFIG_PASSPHRASE (default "floe-local", see docs/local.md), FLOE_STACK (default local).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
say() { printf '\033[1m[floe up]\033[0m %s\n' "$*" >&2; }

# The same idempotent install steps as npm test: Debian packages, the unprivileged user, npm
# dependencies, the TypeScript build, and the Pulumi CLI (built once from its Go modules if none is on PATH).
FLOE_SETUP_PULUMI=1 bash scripts/setup.sh
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
FLOE="node $ROOT/dist/runtime/cli.js"
cat <<MSG

floe is up (stack "$STACK"; state in examples/local/.pulumi-state; files in $(out dataDir)).

  Connect (pgBouncer):   psql '$URL'
  Iceberg tables:        ${WAREHOUSE#file://}/<namespace>/<table>  (SQL catalog: $CATALOG)
  Query them (chdb):     export FLOE_CATALOG_URI='$CATALOG'
                         $FLOE query "SELECT count() FROM floe.demo"
  CDC writer:            $(out cdcHealthUrl)/healthz   log: $(out cdcLog)

Demo: insert a row in Postgres, see it in Iceberg about a second later:

  psql '$URL' -c "CREATE TABLE IF NOT EXISTS demo (id int PRIMARY KEY, note text); INSERT INTO demo VALUES (1, 'hello iceberg')" && sleep 3 && FLOE_CATALOG_URI='$CATALOG' $FLOE query "SELECT * FROM floe.demo"

Stop and remove everything: npm run down (bash scripts/down.sh)
MSG
