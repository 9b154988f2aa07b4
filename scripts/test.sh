#!/usr/bin/env bash
# The README's test command (npm test) and what CI runs: set up, then every tier:
# unit (mocks), integration (real Postgres, pgBouncer, chdb, REST catalog), e2e (pulumi up local),
# engines (floe's tables read by pyiceberg, DuckDB, Spark, polars and chdb, compared with Postgres).
#   FLOE_TIERS="unit integration"  runs only those tiers (default: all four)
#   FLOE_NODE=22                   runs them on that Node.js major (scripts/node-env.sh)
# Extra arguments go to jest (npm test -- test/unit/iceberg).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node-env.sh
bash scripts/setup.sh test
export PATH="$(bash scripts/install-pulumi.sh):$PATH"
status=0
for tier in ${FLOE_TIERS:-unit integration e2e engines}; do
  echo "::group::$tier tests (node $(node --version))"
  start=$(date +%s)
  npx jest --ci --selectProjects "$tier" --passWithNoTests --maxWorkers=2 "$@" || status=1
  echo "::endgroup:: $tier tests: $(( $(date +%s) - start ))s on node $(node --version)"
done
exit $status
