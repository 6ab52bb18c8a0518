# Shared by the corral-marker scripts. Sourced, not run.
# corral-marker installs no operating system: it writes a one-line marker at the start of
# the instance's first disk, so tests and demos can see that the OS create step ran.

set -eu

usage() {
  echo "usage: $0 (no arguments; input comes from the Ganeti OS API environment)" >&2
  exit 1
}

case "${1:-}" in
  -h|--help) usage ;;
esac

: "${OS_API_VERSION:?OS_API_VERSION is not set: run me through the node agent}"
: "${INSTANCE_NAME:?INSTANCE_NAME is not set}"

DISK_COUNT="${DISK_COUNT:-0}"
VARIANT="${OS_VARIANT:-default}"
[ -n "$VARIANT" ] || VARIANT=default

# The marker line; parameters come as OSP_* variables.
marker_line() {
  printf 'CORRAL-MARKER v1 name=%s os=%s variant=%s' "$1" "${INSTANCE_OS:-corral-marker}" "$VARIANT"
  if [ "$VARIANT" != minimal ]; then
    printf ' hypervisor=%s disks=%s nics=%s' "${HYPERVISOR:-}" "$DISK_COUNT" "${NIC_COUNT:-0}"
    [ -n "${OSP_MARKER_TEXT:-}" ] && printf ' text=%s' "$OSP_MARKER_TEXT"
  fi
  printf '\n'
}

# Writes stdin at offset 0 of $1 without truncating it (the disk keeps its size).
write_at_start() {
  dd of="$1" bs=4096 conv=notrunc status=none
}

first_disk() {
  if [ "$DISK_COUNT" -lt 1 ] || [ -z "${DISK_0_PATH:-}" ]; then
    echo ""
  else
    echo "$DISK_0_PATH"
  fi
}
