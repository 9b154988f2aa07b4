#!/usr/bin/env bash
# `npm run down`: `pulumi destroy` of examples/local: stops every process of the local platform,
# frees its ports and removes its files. The stack's (empty) state stays; FLOE_STACK picks the stack.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export PATH="$(bash scripts/install-pulumi.sh):$PATH"
source scripts/pulumi-env.sh
cd examples/local
STACK="${FLOE_STACK:-local}"
if ! pulumi stack select "$STACK" --non-interactive >/dev/null 2>&1; then
  echo "[floe down] no stack $STACK: nothing to destroy" >&2
  exit 0
fi
pulumi destroy --yes --non-interactive --skip-preview --suppress-progress
