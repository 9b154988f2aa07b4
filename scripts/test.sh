#!/usr/bin/env bash
# The README's test command (npm test) and what CI runs: set up, type-check, then every tier:
# unit (mocks), integration (real Postgres, pgBouncer, chdb, REST catalog), e2e (pulumi up local).
set -euo pipefail
cd "$(dirname "$0")/.."
FLOE_SETUP_PULUMI=1 FLOE_SETUP_ICEBERG_REST=1 FLOE_SETUP_K8S_SCHEMAS=1 bash scripts/setup.sh
export PATH="$HOME/.cache/floe/pulumi/bin:$PATH"
status=0
for tier in unit integration e2e; do
  echo "::group::$tier tests"
  npx jest --ci --selectProjects "$tier" --passWithNoTests --maxWorkers=2 "$@" || status=1
  echo "::endgroup::"
done
exit $status
