#!/usr/bin/env bash
# usage: bash scripts/setup.sh [up|test]   (default up)
# Installs everything floe needs on this machine, idempotently; a second run takes seconds.
#   - the machine's prerequisites, checked up front (scripts/prereqs.sh: pgbouncer and the Postgres
#     client tools from Debian; for test also a JDK, Maven and python3 with venv; Go when the Pulumi
#     CLI has to be built), with one message naming whatever is missing
#   - a supported Node.js (scripts/node-env.sh: the one on PATH if 22+, else Node 24 from npm)
#   - the unprivileged user that Postgres and pgBouncer run as when floe runs as root
#   - npm dependencies (Postgres 16/17 binaries, chdb, Pulumi SDKs ...) and the TypeScript build
#   - the Pulumi CLI (scripts/install-pulumi.sh); for test also the REST catalog fixture
#     (scripts/install-iceberg-rest.sh) and the Kubernetes/CloudNativePG schemas, the MinIO chart and
#     helm (scripts/install-k8s-schemas.sh), and the independent readers of the engine test tier
#     (scripts/install-engines.sh: pyiceberg, DuckDB, Spark, polars)
# It never stops or reconfigures a service of the machine: floe's own servers use free ports.
set -euo pipefail
MODE="${1:-up}"
cd "$(dirname "$0")/.."

say() { printf '\033[1m[floe setup]\033[0m %s\n' "$*" >&2; }

bash scripts/prereqs.sh "$MODE"
source scripts/node-env.sh

if [ "$(id -u)" -eq 0 ]; then
  user="${FLOE_RUN_AS:-floe}"
  if ! id "$user" >/dev/null 2>&1; then
    say "creating the unprivileged user $user (Postgres and pgBouncer refuse to run as root)"
    useradd --system --create-home --home-dir "/var/lib/$user" --shell /usr/sbin/nologin "$user"
  fi
fi

stamp=node_modules/.floe-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing npm dependencies"
  # npm ci refuses this lock: chdb lists optional per-platform packages the registry does not serve.
  npm install --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

say "building TypeScript"
npx tsc -p tsconfig.json

bash scripts/install-pulumi.sh >/dev/null
if [ "$MODE" = test ]; then
  bash scripts/install-iceberg-rest.sh >/dev/null
  bash scripts/install-k8s-schemas.sh >/dev/null
  bash scripts/install-engines.sh >/dev/null
fi
say "ready (node $(node --version))"
