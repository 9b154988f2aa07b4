#!/usr/bin/env bash
# `npm run -s pulumi -- <pulumi arguments>`: the Pulumi CLI as `npm run up` runs it, for the local
# stack: floe's CLI (scripts/install-pulumi.sh), a supported Node.js, the stack passphrase default
# and the no-download settings (scripts/pulumi-env.sh), run in examples/local (or in the directory
# npm was called from, when that is another Pulumi program, e.g. examples/kubernetes). Examples:
#
#   npm run -s pulumi -- stack output catalogUri --show-secrets
#   npm run -s pulumi -- config set shards 2 && npm run up
#   npm run -s pulumi -- stack rm local
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
FLOE_NODE_NOTED=1 source scripts/node-env.sh # quietly: its note would only clutter the output
if ! PULUMI_BIN="$(bash scripts/install-pulumi.sh --no-build)"; then
  echo "[floe] the Pulumi CLI is not installed yet: npm run up installs it" >&2
  exit 1
fi
export PATH="$PULUMI_BIN:$PATH"
source scripts/pulumi-env.sh
dir="$ROOT/examples/local"
# (the repo root's Pulumi.yaml describes the component package, not a program to run)
if [[ -n "${INIT_CWD:-}" && "$INIT_CWD" != "$ROOT" && -f "$INIT_CWD/Pulumi.yaml" ]]; then dir="$INIT_CWD"; fi
cd "$dir"
exec pulumi "$@"
