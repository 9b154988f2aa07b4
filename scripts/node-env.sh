# Sourced by scripts/setup.sh, up.sh, down.sh, test.sh and pulumi.sh: puts a supported Node.js first
# on PATH for everything they run (npm, tsc, jest, the Pulumi program, the processes it starts).
#
# floe supports the Node.js LTS lines from 22 on (package.json "engines"). The node on PATH is used
# when it is 22 or newer; an older one (Node 20 reached its end of life in April 2026) is left
# alone and Node $FLOE_NODE_LTS from the npm registry is used instead (scripts/install-node.sh).
# FLOE_NODE=<major> picks a major explicitly (CI's pass on the minimum: FLOE_NODE=22).
# FLOE_NODE_BIN is set to the directory of the node put on PATH, when one was.
FLOE_NODE_MIN=22
FLOE_NODE_LTS=24

floe_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

floe_use_node() {
  local here want=""
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  if [[ -n "${FLOE_NODE:-}" ]]; then
    [[ "$(floe_node_major)" == "$FLOE_NODE" ]] || want="$FLOE_NODE"
  elif (($(floe_node_major) < FLOE_NODE_MIN)); then
    want="$FLOE_NODE_LTS"
    if [[ -z "${FLOE_NODE_NOTED:-}" ]]; then
      printf '\033[1m[floe]\033[0m %s\n' "node on PATH is $(node --version 2>/dev/null || echo missing), older than floe's minimum $FLOE_NODE_MIN: using Node $FLOE_NODE_LTS from the npm registry" >&2
    fi
  fi
  if [[ -n "$want" ]]; then
    local bin
    bin="$(bash "$here/install-node.sh" "$want")" || return 1
    export PATH="$bin:$PATH" FLOE_NODE_BIN="$bin"
    hash -r
  fi
  export FLOE_NODE_NOTED=1
}

floe_use_node
