#!/usr/bin/env bash
# Makes Node.js MAJOR (22, 24, ...) available and prints the directory to put on PATH (stdout; logs
# on stderr):
#
#   export PATH="$(bash scripts/install-node.sh 22):$PATH"
#
# The binary comes from the npm registry's node-linux-<arch> package (the official Node build, a
# plain tarball: no install script), the newest MAJOR.x the registry serves on the first run, then
# reused. It lives in node_modules/.cache/floe/node-MAJOR: inside the project, so the unprivileged
# user that runs Postgres, pgBouncer and the CDC writer (when floe runs as root) can execute it too,
# as it does the Postgres binaries in node_modules. Idempotent; a second run only checks a stamp.
# Needs npm (any version) and tar.
set -euo pipefail

MAJOR="${1:?usage: install-node.sh MAJOR (e.g. 22)}"
[[ "$MAJOR" =~ ^[0-9]+$ ]] || { echo "install-node: MAJOR must be a number like 22, got '$MAJOR'" >&2; exit 2; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/node_modules/.cache/floe/node-$MAJOR"
log() { echo "install-node: $*" >&2; }

if [[ -x "$DIR/bin/node" && -f "$DIR/.installed" ]]; then
  echo "$DIR/bin"
  exit 0
fi

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) log "no node-linux-<arch> package for $(uname -m): install Node.js $MAJOR yourself"; exit 1 ;;
esac
[[ "$(uname -s)" == Linux ]] || { log "only Linux is handled here: install Node.js $MAJOR yourself"; exit 1; }
command -v npm >/dev/null 2>&1 || { log "npm is needed to fetch Node.js $MAJOR"; exit 1; }

mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
flock 9
if [[ -x "$DIR/bin/node" && -f "$DIR/.installed" ]]; then
  echo "$DIR/bin" # another run installed it while we waited
  exit 0
fi

log "fetching Node.js $MAJOR (node-linux-$arch@$MAJOR from the npm registry)"
tmp="$(mktemp -d "$DIR.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
tarball="$(cd "$tmp" && npm pack --silent "node-linux-$arch@$MAJOR" | tail -n 1)"
tar -xzf "$tmp/$tarball" -C "$tmp" package/bin/node package/LICENSE
version="$("$tmp/package/bin/node" --version)"
if [[ "$version" != "v$MAJOR."* ]]; then
  log "node-linux-$arch@$MAJOR unpacked a node that says $version"
  exit 1
fi
rm -rf "$DIR"
mv "$tmp/package" "$DIR"
chmod -R a+rX "$DIR"
echo "$version" > "$DIR/.installed"
log "Node.js $version ready in $DIR/bin"
echo "$DIR/bin"
