#!/usr/bin/env bash
# Installs everything the tests need, type-checks, and runs the whole test suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install.sh" --test-deps
source "$root/scripts/node-env.sh"
cd "$root"
echo "== type check" >&2
npx tsc -p tsconfig.json
echo "== tests" >&2
exec node --disable-warning=ExperimentalWarning --test --test-concurrency=2 --test-timeout=300000 \
  'src/**/*.test.ts' 'test/**/*.test.ts' 'bench/**/*.test.ts'
