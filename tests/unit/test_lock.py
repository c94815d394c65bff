"""The hashed lock and pyproject.toml agree: every declared dependency is pinned at a version its range admits."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, str]:
    text = (ROOT / "requirements.lock.txt").read_text(encoding="utf-8")
    return {canonicalize_name(m[1]): m[2] for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", text, re.M)}


def test_every_dependency_is_pinned_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = list(project["dependencies"])
    for extra in ("test", "bench"):
        declared += project["optional-dependencies"][extra]
    pins = _pins()
    problems = []
    for line in declared:
        req = Requirement(line)
        pin = pins.get(canonicalize_name(req.name))
        if pin is None or not req.specifier.contains(pin, prereleases=True):
            problems.append(f"{req}: lock has {pin}")
    assert not problems, "; ".join(problems) + ". Fix: regenerate requirements.lock.txt (see scripts/setup.sh)."


def test_lock_has_hashes_and_no_torch() -> None:
    text = (ROOT / "requirements.lock.txt").read_text(encoding="utf-8")
    assert "torch" not in _pins()
    assert text.count("==") <= text.count("--hash=sha256:")
