#!/usr/bin/env bash
# Installs Corral's dependencies and starts the master on the embedded default:
# one node, fake hypervisor, SQLite in the data dir, RAPI on https://localhost:5080.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install.sh"
exec "$root/bin/corral" master "$@"
