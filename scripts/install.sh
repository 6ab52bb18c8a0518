#!/usr/bin/env bash
# Installs what Corral needs on a fresh machine: Node >= 22 (see node-env.sh) and the npm
# packages. With --test-deps it also installs the Debian packages the test suite uses
# (Ganeti's official RAPI client, htools and ansible-core, run as real clients against Corral;
# iproute2, nftables and dnsmasq-base, which the PVC network tests drive inside a network
# namespace they create — dnsmasq-base has no service, and nothing touches the host's network;
# wrk, the load generator of the benchmark the suite runs at a toy size; QEMU for the kvm
# hypervisor's tests, and what scripts/test-guest.sh builds their guest with: busybox-static,
# cpio, gzip, gcc and the static glibc of libc6-dev. busybox-static replaces a `busybox`
# package if one is installed; it provides the same commands; Debian's chromium, which the
# web console's browser tests drive with playwright-core — no browser download; prometheus,
# whose server test/e2e/metrics.test.ts starts on a loopback port of its own to scrape
# /metrics — on a machine with systemd Debian also starts its packaged service on :9090,
# which the tests neither use nor need; etcd-server and etcd-client, whose etcd the store tests of
# src/store/etcd start as 1 or 3 members on loopback ports of their own — Debian also starts its
# packaged service on :2379 where systemd runs, which the tests neither use nor need).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/node-env.sh"
cd "$root"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# The web console (ui/): built into ui/dist, which the master serves under /ui/. Rebuilt when
# a source or the packages are newer than the build.
if [ ! -f ui/dist/app.js ] || [ -n "$(find ui/src ui/build.ts node_modules/.package-lock.json src/model -newer ui/dist/app.js -print -quit)" ]; then
  node ui/build.ts
fi
if [ "${1:-}" = "--test-deps" ]; then
  need=()
  for pkg in python3-ganeti-rapi ganeti-htools-3.0 ansible-core iproute2 nftables dnsmasq-base wrk \
    qemu-system-x86 qemu-utils busybox-static cpio gzip gcc libc6-dev tmux chromium prometheus \
    etcd-server etcd-client; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
  done
  # A package that cannot be installed fails CI here, at its cause: under CI=true the suites
  # that need it would fail anyway (test/support/tools.ts), and a warning scrolled past is how
  # a real-client suite once went unrun while CI stayed green. Elsewhere those suites are
  # skipped, so a developer without root can still run the rest.
  cannot() {
    if [ "${CI:-}" = "true" ]; then
      echo "error: $1; CI=true needs every test dependency" >&2
      exit 1
    fi
    echo "warning: $1; the suites that need them will be skipped (with CI=true they fail)" >&2
  }
  if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
      echo "installing Debian packages: ${need[*]}" >&2
      # A failed update only matters if the install then fails, which is checked below.
      apt-get update -qq >&2 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 \
        || cannot "could not install ${need[*]}"
    else
      cannot "not root, cannot install ${need[*]}"
    fi
  fi
fi
