#!/usr/bin/env bash
# One-step set-up for `make demo` and `make test`: system packages, the
# virtualenv in .venv, the package with its pinned-compatible dependencies,
# and the default speech models provisioned offline into the cache.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PYTHON=${PYTHON:-}
EXTRAS=${SETUP_EXTRAS:-test,bench}
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- system packages -------------------------------------------------------
can_apt() { [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_updated=
apt_install() {  # apt_install WHAT PACKAGE...: the package lists are refreshed once per run
    say "installing Debian packages$1: ${*:2}"
    [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${@:2}" >/dev/null
}

missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
if [ ${#missing[@]} -gt 0 ]; then
    if can_apt; then
        apt_install "" "${missing[@]}"
    else
        echo "sessionbot needs these Debian packages: ${missing[*]}" >&2
        echo "Install them first, then run this again:" >&2
        echo "    sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi
say "system packages: espeak-ng $(espeak-ng --version | awk '{print $4}')"

# Janus, Chromium and janus.js serve only the Janus end-to-end tests, which also need root
# (they make their own network namespace). Without root they are skipped, saying why.
janus_missing=()
command -v janus >/dev/null 2>&1 || janus_missing+=(janus)
command -v chromium >/dev/null 2>&1 || janus_missing+=(chromium)
command -v ip >/dev/null 2>&1 || janus_missing+=(iproute2)
[ -f /usr/share/javascript/janus-gateway/janus.js ] || janus_missing+=(libjs-janus-gateway)
[ -f /usr/share/javascript/webrtc-adapter/adapter.js ] || janus_missing+=(libjs-webrtc-adapter)
if [ ${#janus_missing[@]} -gt 0 ]; then
    if can_apt; then
        apt_install " for the Janus tests" "${janus_missing[@]}"
    else
        say "Janus tests will be skipped: they need root and ${janus_missing[*]} (sudo apt-get install -y ${janus_missing[*]})"
    fi
fi

# The image test (tests/deploy/test_image.py, `make image`) assembles the container image from
# Debian packages with mmdebstrap, writes its OCI layers with umoci and runs it with podman on
# runc (crun refuses hosts with hybrid cgroups); like the Janus tests it needs root. The build
# itself is cached under ~/.cache/sessionbot-image, not done here.
image_missing=()
command -v mmdebstrap >/dev/null 2>&1 || image_missing+=(mmdebstrap)
command -v umoci >/dev/null 2>&1 || image_missing+=(umoci)
command -v podman >/dev/null 2>&1 || image_missing+=(podman)
command -v runc >/dev/null 2>&1 || image_missing+=(runc)
if [ ${#image_missing[@]} -gt 0 ]; then
    if can_apt; then
        apt_install " for the image test" "${image_missing[@]}"
    else
        say "the image test will be skipped: it needs root and ${image_missing[*]} (sudo apt-get install -y ${image_missing[*]})"
    fi
fi

# --- virtualenv --------------------------------------------------------------
if [ -z "$PYTHON" ]; then
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
            PYTHON=$candidate; break
        fi
    done
fi
if [ -z "$PYTHON" ]; then
    echo "sessionbot needs Python 3.11 (python3.11 or python3 on PATH)." >&2
    echo "On Debian: sudo apt-get install -y python3.11 python3.11-venv" >&2
    exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtualenv in $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi

# Third-party packages come from the hashed lock (requirements.lock.txt, made with `uv pip compile
# pyproject.toml --extra test --extra bench --universal --generate-hashes --no-header
# --annotation-style line --python-version 3.11 -o requirements.lock.txt`; given the old lock as -o,
# uv keeps its pins), so every machine installs the same files and a tampered download fails; the
# project itself is then installed editable without resolving again.
# Reinstall only when the lock or the project's declaration changed.
LOCK=requirements.lock.txt
stamp="$VENV/.installed-$(cat pyproject.toml "$LOCK" | sha256sum | cut -c1-16)-$EXTRAS"
if [ ! -f "$stamp" ]; then
    say "installing the locked dependencies ($LOCK, hashes checked) into $VENV (first run: a few minutes)"
    quiet_pip() { "$VENV/bin/python" -m pip "$@" 2>&1 | { grep -v -e "is ignored: it is neither a file" -e "^ *$" || true; }; }
    quiet_pip install --quiet --upgrade pip
    quiet_pip install --quiet --require-hashes -r "$LOCK"
    say "installing sessionbot itself (editable, extras $EXTRAS, dependencies already locked)"
    quiet_pip install --quiet --no-deps -e ".[$EXTRAS]"
    "$VENV/bin/python" -m pip check >/dev/null || { echo "setup: the installed packages disagree with pyproject.toml (pip check):" >&2; "$VENV/bin/python" -m pip check >&2; exit 1; }
    rm -f "$VENV"/.installed-*
    touch "$stamp"
else
    say "dependencies already installed in $VENV"
fi

# --- speech models -----------------------------------------------------------
"$VENV/bin/sessionbot" models provision
