# Shared by the corral-image scripts. Sourced, not run.
# corral-image writes a disk image (raw or qcow2, a file on the node the cluster admin names
# in the `image` OS parameter) onto the instance's first disk with qemu-img, so an instance
# boots a real operating system, e.g. a distribution's cloud image.

set -eu

case "${1:-}" in
  -h|--help) echo "usage: $0 (no arguments; input comes from the Ganeti OS API environment)" >&2; exit 1 ;;
esac

: "${OS_API_VERSION:?OS_API_VERSION is not set: run me through the node agent}"
DISK_COUNT="${DISK_COUNT:-0}"

# The image named by the `image` parameter, checked: an absolute path to a readable file.
checked_image() {
  image="${OSP_IMAGE:-}"
  case "$image" in
    "") echo "corral-image: the 'image' OS parameter is required (an absolute path on the node)" >&2; return 1 ;;
    /*) ;;
    *) echo "corral-image: image '$image' must be an absolute path on the node" >&2; return 1 ;;
  esac
  [ -f "$image" ] && [ -r "$image" ] || { echo "corral-image: image '$image' is not a readable file on this node" >&2; return 1; }
  printf '%s\n' "$image"
}

# The image's format as qemu-img reads it: the `image_format` parameter, else detected.
image_format() {
  case "${OSP_IMAGE_FORMAT:-auto}" in
    raw|qcow2) printf '%s\n' "$OSP_IMAGE_FORMAT" ;;
    auto) qemu-img info --output=json "$1" | sed -n 's/^ *"format": "\([a-z0-9]*\)".*/\1/p' | head -n 1 ;;
    *) echo "corral-image: image_format must be raw, qcow2 or auto, not '$OSP_IMAGE_FORMAT'" >&2; return 1 ;;
  esac
}

# Bytes a disk path holds (a file's length or a block device's size).
disk_bytes() {
  if [ -b "$1" ]; then blockdev --getsize64 "$1"; else stat -c %s "$1"; fi
}
