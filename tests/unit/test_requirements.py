"""The prerequisite helper skips locally, fails under SESSIONBOT_REQUIRE, and nothing in tests/ bypasses it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.requirements import ENV, KNOWN, required_names

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent

# A raw way to give up: any of these outside tests/requirements.py is a skip CI cannot see.
RAW_SKIP = re.compile(r"pytest\.skip\(|skipif\(|importorskip\(|pytest\.mark\.skip\b")
# Files allowed a raw skip, with the reason. Keep this empty unless a check is truly about the platform.
ALLOWED: dict[str, str] = {
    "tests/requirements.py": "the helper itself",
    "tests/unit/test_requirements.py": "this scanner names the patterns",
}

PROBE = '''
from tests.requirements import require
def test_probe():
    require("chromium", False, "install the probe part")
'''


def _run_probe(tmp_path: Path, require_value: str | None) -> subprocess.CompletedProcess[str]:
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE, encoding="utf-8")
    env = {k: v for k, v in __import__("os").environ.items() if k != ENV}
    if require_value is not None:
        env[ENV] = require_value
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(probe)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_missing_prerequisite_skips_with_the_hint_without_the_env(tmp_path: Path) -> None:
    done = _run_probe(tmp_path, None)
    assert done.returncode == 0, done.stdout
    assert "1 skipped" in done.stdout and "install the probe part" in done.stdout


@pytest.mark.parametrize("value", ["all", "chromium", "data,chromium"])
def test_a_missing_prerequisite_fails_with_the_hint_when_required(tmp_path: Path, value: str) -> None:
    done = _run_probe(tmp_path, value)
    assert done.returncode == 1, done.stdout
    assert "1 failed" in done.stdout and "install the probe part" in done.stdout


def test_a_prerequisite_not_named_still_skips(tmp_path: Path) -> None:
    done = _run_probe(tmp_path, "data")
    assert done.returncode == 0 and "1 skipped" in done.stdout, done.stdout


def test_the_names_parse_and_a_typo_is_refused() -> None:
    assert required_names({}) == frozenset()
    assert required_names({ENV: "all"}) == frozenset(KNOWN)
    assert required_names({ENV: " data , janus "}) == {"data", "janus"}
    with pytest.raises(pytest.UsageError, match="chromum"):
        required_names({ENV: "chromum"})


def test_no_test_skips_except_through_the_helper() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative in ALLOWED:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if RAW_SKIP.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, "use tests/requirements.py require()/requirement() instead:\n" + "\n".join(offenders)


def test_the_scanner_catches_each_raw_form() -> None:
    for line in ('pytest.skip("x")', '@pytest.mark.skipif(True, reason="x")', 'pytest.importorskip("m")',
                 "@pytest.mark.skip"):
        assert RAW_SKIP.search(line), line
    assert not RAW_SKIP.search('require("data", True, "x")')


def test_ci_runs_make_test_with_everything_required() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^export SESSIONBOT_REQUIRE=all$", ci, re.M) and re.search(r"^make test$", ci, re.M)
