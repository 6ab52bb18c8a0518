#!/usr/bin/env bash
# Installs everything the tests need, type-checks, and runs the whole test suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install.sh" --test-deps
source "$root/scripts/node-env.sh"
cd "$root"
# The guest the kvm tests boot (see README): built here, once, so that the first test to boot it
# does not spend its timeout on the build. The tests find it through CORRAL_TEST_GUEST.
echo "== test guest" >&2
if guest="$(bash "$root/scripts/test-guest.sh")"; then
  export CORRAL_TEST_GUEST="$guest"
elif [ "${CI:-}" = "true" ]; then
  echo "error: the test guest did not build; CI=true needs it" >&2
  exit 1
else
  echo "warning: the test guest did not build; the suites that boot it will be skipped" >&2
fi
echo "== type check" >&2
npx tsc -p tsconfig.json
npx tsc -p ui/tsconfig.json
echo "== tests" >&2
status=0
# Every master the run starts (in the test processes or as processes of their own) copies its
# log lines here; the last step greps them all for the tests' secrets.
CORRAL_TEST_LOG_DIR="$(mktemp -d -t corral-test-logs.XXXXXX)"
export CORRAL_TEST_LOG_DIR
node --disable-warning=ExperimentalWarning --test --test-concurrency=2 --test-timeout=300000 \
  'src/**/*.test.ts' 'test/{clients,e2e,pvc,rapi}/**/*.test.ts' 'bench/**/*.test.ts' || status=1
# The suites that boot several TCG guests each (test/vm), one file at a time: two of them side
# by side on two cores slow the guests enough to break the migration tests' timing.
echo "== VM tests (one file at a time)" >&2
node --disable-warning=ExperimentalWarning --test --test-concurrency=1 --test-timeout=600000 \
  'test/vm/*.test.ts' || status=1
echo "== no test secret in any master's log line" >&2
if node scripts/check-log-secrets.ts "$CORRAL_TEST_LOG_DIR"; then
  rm -rf "$CORRAL_TEST_LOG_DIR"
else
  echo "the run's log lines are kept in $CORRAL_TEST_LOG_DIR" >&2
  status=1
fi
exit "$status"
