#!/usr/bin/env bash
# The bench in one command: `bash bench/run.sh [--with-ganeti] [--profile] [--tiny] ...`
# Installs Debian's wrk if it is missing, then runs bench/run.ts (options: --help).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v wrk >/dev/null 2>&1; then
  echo "bench: installing wrk (Debian package)" >&2
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo -n"
  $sudo_ apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -q --no-install-recommends wrk >/dev/null
fi
source "$here/../scripts/node-env.sh"
exec node --disable-warning=ExperimentalWarning "$here/run.ts" "$@"
