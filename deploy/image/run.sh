#!/usr/bin/env bash
# Run a command (default: the image's own, `sessionbot demo`) in the image built by build.sh as the
# image user (uid 10001) with a read-only root filesystem, /tmp a tmpfs, loopback-only networking
# and the notes directory as the one writable volume (/data/notes).
#   podman  (default when podman and runc are installed) runs the OCI image itself, imported once
#           per build as localhost/sessionbot:<key>. runc, not podman's default crun: crun refuses a
#           hybrid cgroup v1/v2 host. Explicit ulimits: podman's defaults (nofile 1048576) exceed the
#           hard limits, and raising a hard limit needs CAP_SYS_RESOURCE, which a sandbox may lack.
#           Afterwards `podman diff` must show no change to the root filesystem but podman's own
#           mount points (/etc/hosts, /etc/resolv.conf, ...).
#   chroot  util-linux only, for hosts without a container runtime: unshare (own mount, PID,
#           network, IPC and UTS namespaces), the image's layers as an overlay with no upper
#           directory (read-only by construction, mounted ro), tmpfs on /tmp and /dev/shm, /dev
#           with null, zero, random and urandom only, chroot as uid 10001 under tini.
# Usage: run.sh <app dir printed by build.sh> <notes dir on the host> [command...]
#        SESSIONBOT_IMAGE_RUNTIME=podman|chroot picks the runtime.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: run.sh <app dir from deploy/image/build.sh> <notes dir> [command...]" >&2; exit 2; }
app="$(cd "$1" && pwd)"; notes="$2"; shift 2
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (namespaces, mounts, chroot). Fix: sudo deploy/image/run.sh ..." >&2; exit 2; }
[ -f "$app/done" ] && [ -f "$app/base" ] || { echo "run.sh: $app is not a finished build. Fix: deploy/image/build.sh" >&2; exit 2; }
base="$(cat "$app/base")"
[ -f "$base/done" ] || { echo "run.sh: its base $base is gone. Fix: deploy/image/build.sh" >&2; exit 2; }
if command -v podman >/dev/null && command -v runc >/dev/null; then default=podman; else default=chroot; fi
runtime="${SESSIONBOT_IMAGE_RUNTIME:-$default}"
uid=10001
mkdir -p "$notes"; chown "$uid:$uid" "$notes"; chmod 0700 "$notes"
notes="$(cd "$notes" && pwd)"
echo "[run] $runtime: ${app##*/}, read-only root, notes volume $notes, uid $uid: ${*:-its CMD}" >&2

run_podman() {
  command -v podman >/dev/null && command -v runc >/dev/null ||
    { echo "run.sh: podman or runc is missing. Fix: apt-get install -y podman runc (or SESSIONBOT_IMAGE_RUNTIME=chroot)" >&2; exit 2; }
  local key="${app##*/app-}" image id link name rc changes
  image="localhost/sessionbot:$key"
  if ! podman image exists "$image"; then
    # podman names an oci: import after its path, and a path with a dot (~/.cache) is no valid name.
    link="/tmp/sessionbot-image-$key"
    ln -sfn "$app/oci" "$link"
    echo "[run] importing the OCI image as $image" >&2
    id="$(podman pull --quiet "oci:$link:latest")"
    podman tag "$id" "$image"
    podman untag "$id" "localhost$link:latest" 2>/dev/null || true
    rm -f "$link"
    # Images of builds that build.sh has since pruned only take disk.
    for old in $(podman images --noheading --format '{{.Tag}}' localhost/sessionbot); do
      [ -d "${app%/*}/app-$old" ] || podman rmi --force "localhost/sessionbot:$old" >/dev/null 2>&1 || true
    done
  fi
  local nproc; nproc="$(ulimit -Hu)"; [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
  local args=(--runtime runc --read-only --network none --cap-drop all --security-opt no-new-privileges
              --ulimit "nofile=$(ulimit -Sn):$(ulimit -Hn)" --ulimit "nproc=$nproc:$nproc"
              --volume "$notes:/data/notes")
  [ $# -eq 0 ] || args+=(--entrypoint '["/usr/bin/tini", "--"]')
  name="sessionbot-run-$$"
  rc=0; podman run --name "$name" "${args[@]}" "$image" "$@" || rc=$?
  changes="$(podman diff "$name" | grep -v -E '^[AC] /(etc|etc/hosts|etc/hostname|etc/resolv.conf|run|run/\.containerenv)$' || true)"
  podman rm --force "$name" >/dev/null
  if [ -n "$changes" ]; then echo "[run] the container changed its root filesystem:" >&2; echo "$changes" >&2; exit 3; fi
  echo "[run] root filesystem unchanged (podman diff)" >&2
  exit "$rc"
}

run_chroot() {
  # The image's CMD, for the same default as podman (the working directory /data is read-only).
  [ $# -gt 0 ] || set -- sessionbot demo --log-file /tmp/demo.jsonl
  root="$(mktemp -d /tmp/sessionbot-root.XXXXXX)"
  trap 'rmdir "$root" 2>/dev/null || true' EXIT
  SB_LOWER="$app/upper:$base/rootfs" SB_NOTES="$notes" SB_ROOT="$root" SB_UID="$uid" \
    unshare --mount --pid --net --ipc --uts --fork --propagation private bash -euc '
    ip link set lo up
    r="$SB_ROOT"
    # Two lower layers and no upper: overlayfs itself refuses every write; ro says so again.
    mount -t overlay overlay -o "ro,lowerdir=$SB_LOWER" "$r"
    mount -t tmpfs -o size=256m,mode=1777,nosuid,nodev tmpfs "$r/tmp"
    mount --bind "$SB_NOTES" "$r/data/notes"
    mount -o remount,bind,nosuid,nodev "$r/data/notes"
    mount -t proc -o nosuid,nodev,noexec proc "$r/proc"
    mount -t tmpfs -o size=1m,mode=755,nosuid tmpfs "$r/dev"
    for node in null zero random urandom; do touch "$r/dev/$node"; mount --bind "/dev/$node" "$r/dev/$node"; done
    mkdir "$r/dev/shm" && mount -t tmpfs -o size=64m,mode=1777,nosuid,nodev tmpfs "$r/dev/shm"
    mount -o remount,ro,bind "$r/dev"
    cd "$r"
    exec chroot --userspec="$SB_UID:$SB_UID" --groups="$SB_UID" "$r" /usr/bin/tini -s -- /usr/bin/env -i \
      HOME=/data PATH=/opt/sessionbot/venv/bin:/usr/bin:/bin LANG=C.UTF-8 \
      SESSIONBOT_CACHE_DIR=/opt/sessionbot/cache XDG_STATE_HOME=/tmp/state XDG_CACHE_HOME=/tmp/cache \
      /bin/sh -c "cd /data && exec \"\$@\"" sh "$@"
  ' bash "$@"
}

case "$runtime" in
  podman) run_podman "$@" ;;
  chroot) run_chroot "$@" ;;
  *) echo "run.sh: SESSIONBOT_IMAGE_RUNTIME=$runtime; use podman or chroot" >&2; exit 2 ;;
esac
