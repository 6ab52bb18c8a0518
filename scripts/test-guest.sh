#!/usr/bin/env bash
# Builds Corral's test guest: a Debian kernel and a busybox initramfs whose /init
# (scripts/test-guest/init.sh) reports on the serial console what the kvm tests check.
# Prints the guest's directory (vmlinuz, initramfs.cpio.gz, build-info) on stdout.
#
#   scripts/test-guest.sh [--rebuild]
#
# The guest is cached outside the repository, in
# ${XDG_CACHE_HOME:-~/.cache}/corral/test-guest/<kernel release>-<key>/, where the key hashes
# this script, the guest's sources and the kernel and busybox versions: a change to any of
# them builds a new guest, and a built one is reused as it is. Needs (scripts/install.sh
# --test-deps): apt (the kernel package is downloaded, never installed), busybox-static, cpio,
# gzip, gcc with the static glibc (libc6-dev).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sources=("${BASH_SOURCE[0]}" "$here/test-guest/init.sh" "$here/test-guest/dirtier.c")
# What the guest loads, by module name; their dependencies come from the kernel's modules.dep.
# virtio_pci finds the devices, virtio_blk/virtio_net drive disks and NICs, button and evdev
# turn the ACPI power button into an input event that busybox acpid reads.
modules=(virtio_pci virtio_blk virtio_net button evdev)

die() {
  echo "test-guest: $*" >&2
  exit 1
}

rebuild=false
case "${1:-}" in
  "") ;;
  --rebuild) rebuild=true ;;
  *) die "usage: $0 [--rebuild]" ;;
esac

# The kernel is whatever linux-image-amd64 currently depends on, so the guest follows the
# distribution's security updates instead of a version written down here. One apt-cache call
# (it takes about a second): the metapackage pins the exact version, "Depends: P (= V)".
kernel_package() {
  apt-cache show --no-all-versions linux-image-amd64 2>/dev/null | awk '
    $1 == "Depends:" {
      for (i = 2; i <= NF; i++) if ($i ~ /^linux-image-[0-9].*-amd64,?$/) {
        pkg = $i; sub(/,$/, "", pkg)
        if ($(i + 1) == "(=") { ver = $(i + 2); sub(/\)$/, "", ver) }
        print pkg, ver
        exit
      }
    }'
}
read -r pkg pkg_version < <(kernel_package) || true
if [ -z "${pkg:-}" ] && [ "$(id -u)" -eq 0 ]; then
  # Images often ship without package lists.
  apt-get update -qq >&2 || true
  read -r pkg pkg_version < <(kernel_package) || true
fi
[ -n "${pkg:-}" ] || die "apt-cache knows no linux-image-amd64 (run apt-get update as root)"
if [ -z "${pkg_version:-}" ]; then
  pkg_version="$(apt-cache show --no-all-versions "$pkg" | awk '$1 == "Version:" { print $2; exit }')"
fi
[ -n "$pkg_version" ] || die "apt-cache show $pkg gave no version"
release="${pkg#linux-image-}"

busybox=/bin/busybox
busybox_version="$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null)" \
  || die "busybox-static is not installed (scripts/install.sh --test-deps installs it)"
[ -x "$busybox" ] || die "$busybox is missing"
# ldd fails on a static binary; a dynamic busybox would not run in the initramfs.
! ldd "$busybox" >/dev/null 2>&1 || die "$busybox is not static (busybox-static provides a static one)"
for tool in cpio gzip gcc dpkg-deb apt-get; do
  command -v "$tool" >/dev/null || die "$tool is missing (scripts/install.sh --test-deps installs it)"
done

key="$( { cat "${sources[@]}"; echo "$pkg $pkg_version busybox $busybox_version"; } | sha256sum | cut -c1-12)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/corral/test-guest"
dir="$cache/$release-$key"
built() { [ -f "$dir/vmlinuz" ] && [ -f "$dir/initramfs.cpio.gz" ]; }

if ! $rebuild && built; then
  echo "$dir"
  exit 0
fi

mkdir -p "$cache"
# Concurrent callers (the test command and a test run by hand) wait for one build.
exec 9>"$cache/.lock"
flock 9
if ! $rebuild && built; then
  echo "$dir"
  exit 0
fi
# What an interrupted build left behind (nobody else is building while we hold the lock).
rm -rf "$cache"/.build.*

started=$SECONDS
echo "test-guest: building $dir ($pkg $pkg_version, busybox $busybox_version)" >&2
# Everything happens in a temporary directory beside the cache entry, renamed into place at the
# end: a build that fails or is interrupted leaves nothing a later run could take for a guest.
work="$(mktemp -d "$cache/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/download" "$work/kernel" "$work/modroot/lib/modules" "$work/out"
root="$work/initramfs"
mkdir -p "$root/bin" "$root/lib/modules" "$root/dev" "$root/proc" "$root/sys" "$root/tmp"

sandbox=()
# As root apt downloads as _apt, who cannot write into our private directory; it would fall
# back to root with a warning, so ask for that directly.
[ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
(cd "$work/download" && apt-get download -qq "${sandbox[@]}" "$pkg=$pkg_version") >&2 \
  || die "apt-get download $pkg=$pkg_version failed"
dpkg-deb -x "$work/download/${pkg}_"*.deb "$work/kernel"
cp "$work/kernel/boot/vmlinuz-$release" "$work/out/vmlinuz"

# Newer packages put modules under /usr/lib; depmod -b wants them under lib/.
moddir="$work/kernel/lib/modules/$release"
[ -d "$moddir" ] || moddir="$work/kernel/usr/lib/modules/$release"
[ -d "$moddir" ] || die "$pkg has no modules directory for $release"
mv "$moddir" "$work/modroot/lib/modules/$release"
moddir="$work/modroot/lib/modules/$release"
depmod="$(PATH="$PATH:/usr/sbin:/sbin" command -v depmod || true)"
if [ -n "$depmod" ]; then
  "$depmod" -b "$work/modroot" "$release"
else
  "$busybox" depmod -b "$work/modroot" "$release"
fi

# Module name -> its file and its dependencies' files, from modules.dep.
declare -A file_of deps_of
name_of() { # PATH -> NAME in $name: file name without .ko*, with '-' as '_' as the kernel does
  name="${1##*/}"
  name="${name%%.ko*}"
  name="${name//-/_}"
}
while IFS= read -r line; do
  path="${line%%:*}"
  name_of "$path"
  file_of[$name]="$path"
  deps_of[$name]="${line#*:}"
done <"$moddir/modules.dep"

# Dependencies first, each module once.
declare -A visited
order=()
visit() {
  local n="$1" dep
  [ -z "${visited[$n]:-}" ] || return 0
  visited[$n]=1
  [ -n "${file_of[$n]:-}" ] || die "module $n is not in $release's modules.dep"
  for dep in ${deps_of[$n]}; do
    name_of "$dep"
    visit "$name"
  done
  order+=("$n")
}
for m in "${modules[@]}"; do visit "$m"; done

# insmod takes plain .ko files only.
for n in "${order[@]}"; do
  src="$moddir/${file_of[$n]}"
  case "$src" in
    *.ko) cp "$src" "$root/lib/modules/$n.ko" ;;
    *.ko.xz) "$busybox" xzcat "$src" >"$root/lib/modules/$n.ko" ;;
    *.ko.gz) gzip -dc "$src" >"$root/lib/modules/$n.ko" ;;
    *.ko.zst) command -v zstd >/dev/null || die "$src needs zstd"; zstd -qdc "$src" >"$root/lib/modules/$n.ko" ;;
    *) die "unexpected module file $src" ;;
  esac
  echo "$n" >>"$root/lib/modules/load-order"
done

cp "$busybox" "$root/bin/busybox"
install -m 755 "$here/test-guest/init.sh" "$root/init"
gcc -static -O2 -Wall -Wextra -Werror -o "$root/bin/corral-dirtier" "$here/test-guest/dirtier.c" \
  || die "could not build the dirtier (gcc -static needs libc6-dev)"
strip "$root/bin/corral-dirtier" 2>/dev/null || true

(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null --create --format=newc --owner=0:0 --quiet) \
  | gzip -9n >"$work/out/initramfs.cpio.gz"
{
  echo "kernel: $pkg $pkg_version"
  echo "busybox-static: $busybox_version"
  echo "modules (load order): ${order[*]}"
  echo "key: $key"
} >"$work/out/build-info"

# --rebuild: the old guest goes only once the new one is complete.
[ ! -e "$dir" ] || mv -T "$dir" "$work/replaced"
mv -T "$work/out" "$dir"
echo "test-guest: built in $((SECONDS - started)) s" >&2
echo "$dir"
