# Shared by the filestore provider scripts. Sourced, not run.
# filestore keeps each volume as a sparse file named after VOL_NAME in the directory given by
# the `dir` ExtStorage parameter (EXTP_DIR). It is meant for tests and single-host demos: the
# "device" it attaches is the file itself. Every action is appended to $dir/filestore.log.

set -eu

case "${1:-}" in
  -h|--help) echo "usage: $0 (input comes from the ExtStorage interface environment)" >&2; exit 1 ;;
esac

: "${VOL_NAME:?VOL_NAME is not set: run me through the node agent}"
case "$VOL_NAME" in
  */*|.*|"") echo "filestore: invalid volume name '$VOL_NAME'" >&2; exit 1 ;;
esac
DIR="${EXTP_DIR:-/var/lib/corral/extstorage/filestore}"
VOL="$DIR/$VOL_NAME"

log_action() {
  mkdir -p "$DIR"
  echo "$1 $VOL_NAME size=${VOL_SIZE:-} new_size=${VOL_NEW_SIZE:-} uuid=${VOL_UUID:-} cname=${VOL_CNAME:-}" >> "$DIR/filestore.log"
}

# Sets the file's size to $1 MiB without writing data (sparse).
set_size() {
  dd if=/dev/null of="$VOL" bs=1048576 seek="$1" count=0 status=none
}
