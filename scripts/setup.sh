#!/usr/bin/env bash
# Installs everything floe needs on this machine, idempotently; a second run takes seconds.
#   - pgbouncer and the Postgres client tools (pg_recvlogical for bench/cdc) from Debian
#   - the unprivileged user that Postgres and pgBouncer run as when floe runs as root
#   - npm dependencies (Postgres 16/17 binaries, chdb, Pulumi SDKs ...) and the TypeScript build
#   - optional extras: FLOE_SETUP_PULUMI=1 builds the Pulumi CLI, FLOE_SETUP_ICEBERG_REST=1 the REST catalog fixture,
#     FLOE_SETUP_K8S_SCHEMAS=1 the Kubernetes/CloudNativePG schemas, the MinIO chart and helm (scripts/install-k8s-schemas.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[floe setup]\033[0m %s\n' "$*" >&2; }

need_apt=()
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || need_apt+=(pgbouncer)
command -v pg_recvlogical >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_recvlogical >/dev/null 2>&1 || need_apt+=(postgresql-client postgresql)
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${need_apt[*]} (run as root, or: sudo apt-get install ${need_apt[*]})"; exit 1
  fi
  say "installing ${need_apt[*]} from Debian"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# Debian starts a cluster and a pgbouncer service on install; floe runs its own on free ports.
if [ "$(id -u)" -eq 0 ]; then
  command -v pg_ctlcluster >/dev/null 2>&1 && for c in /etc/postgresql/*/main; do [ -d "$c" ] && pg_ctlcluster "$(basename "$(dirname "$c")")" main stop >/dev/null 2>&1 || true; done
  pkill -x pgbouncer -u postgres >/dev/null 2>&1 || true
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

if [ "${FLOE_SETUP_ICEBERG_REST:-0}" = 1 ] && [ -f scripts/install-iceberg-rest.sh ]; then bash scripts/install-iceberg-rest.sh; fi
if [ "${FLOE_SETUP_K8S_SCHEMAS:-0}" = 1 ]; then bash scripts/install-k8s-schemas.sh >/dev/null; fi
if [ "${FLOE_SETUP_PULUMI:-0}" = 1 ] && [ -f scripts/install-pulumi.sh ]; then bash scripts/install-pulumi.sh; fi
say "ready"
