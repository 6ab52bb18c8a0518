#!/usr/bin/env bash
# Sourced by every entry script: puts a Node >= 22 first on PATH.
# The machines ship Node 20; Corral needs >= 22 (node:sqlite, TypeScript type stripping),
# so when the system one is older we install the `node` package from the npm registry into
# .tools/ (a registry package that carries the official binary) and use that.
set -euo pipefail
corral_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
corral_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  local major; major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  [ "$major" -ge 22 ]
}
if ! corral_node_ok; then
  tools="$corral_root/.tools"
  if [ ! -x "$tools/node_modules/.bin/node" ]; then
    echo "corral: installing Node 24 into $tools (system node is older than 22)" >&2
    mkdir -p "$tools"
    npm install --silent --no-save --no-package-lock --prefix "$tools" node@24 >&2
  fi
  export PATH="$tools/node_modules/node/bin:$PATH"
fi
corral_node_ok || { echo "corral: could not get Node >= 22" >&2; exit 1; }
