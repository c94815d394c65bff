"""The wheel works outside the checkout: built from this tree, installed into a fresh venv in a
temporary directory, and run from there, so every announcement, lexicon, template, the room page
and the models manifest must come from the wheel itself, not the source tree.

The fresh venv installs only the wheel (no dependencies): a plain path line in a .pth file lends it
the project venv's third-party packages, so the test costs seconds, not a download of everything.
A plain path line (unlike `site.addsitedir`) does not run that venv's editable-install hook, and the
test checks that `bot` is imported from the new venv, not from the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import data_dir
from tests.requirements import require

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

PACKAGED = ("bot/data/announcements/es.toml", "bot/data/announcements/examples/",
            "bot/data/announcements/examples/heard/de.toml", "bot/data/announcements/examples/mined/en.toml",
            "bot/data/templates/soap.en.toml",
            "bot/data/risk/", "bot/call/static/", "bot/transcribe/models.toml")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the fresh venv's bin directory, the built wheel)."""
    root = tmp_path_factory.mktemp("outside")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "-w", str(root / "dist"), str(REPO)], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (root / "dist").glob("sessionbot-*.whl")

    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    target = env_dir / "bin" / "python"
    site = subprocess.run([str(target), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "lend-project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(target), "install", "--no-deps", "-q",
                              str(wheel)], capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stderr[-3000:]
    return env_dir / "bin", wheel


def _run(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([str(bin_dir / "sessionbot"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, check=False)


def test_the_wheel_carries_the_data_the_bot_needs(installed: tuple[Path, Path]) -> None:
    names = zipfile.ZipFile(installed[1]).namelist()
    for wanted in PACKAGED:
        assert any(name.startswith(wanted) for name in names), f"{wanted} is not in the wheel"
    assert not [n for n in names if n.startswith(("tests/", "bench-results/", "docs/"))], "the wheel carries the checkout"


def test_bot_is_imported_from_the_fresh_venv(installed: tuple[Path, Path], tmp_path: Path) -> None:
    bin_dir = installed[0]
    where = subprocess.run([str(bin_dir / "python"), "-c", "import bot; print(bot.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(bin_dir.parent), where
    assert not Path(where).is_relative_to(REPO), where


def test_announce_check_objection_note_and_demo_help_run_from_the_wheel(installed: tuple[Path, Path],
                                                                      tmp_path: Path) -> None:
    bin_dir = installed[0]
    spoken = _run(bin_dir, tmp_path, "announce", "--lang", "es", "--out", str(tmp_path / "es.wav"))
    assert spoken.returncode == 0, spoken.stderr[-2000:]
    assert (tmp_path / "es.wav").stat().st_size > 16_000

    checked = _run(bin_dir, tmp_path, "check-objection", "--lang", "fr", "--json",
                   "--text", "Je ne veux pas être enregistré, arrêtez l'enregistrement.")
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert json.loads(checked.stdout)["objection"] is True, checked.stdout

    valid = data_dir() / "aci-bench" / "valid.jsonl"
    require("data", valid.is_file(), f"ACI-BENCH not found at {valid}; set SESSIONBOT_DATA_DIR")
    visit = json.loads(valid.read_text(encoding="utf-8").splitlines()[0])
    dialogue = tmp_path / "visit.txt"
    dialogue.write_text(visit["dialogue"], encoding="utf-8")
    drafted = _run(bin_dir, tmp_path, "note", str(dialogue), "--template", "soap", "--out", str(tmp_path / "notes"))
    assert drafted.returncode == 0, drafted.stderr[-2000:]
    (markdown,) = (tmp_path / "notes").glob("*.md")
    text = markdown.read_text(encoding="utf-8")
    for header in ("Subjective", "Objective", "Assessment", "Plan"):
        assert header in text, f"the SOAP note from the wheel lacks {header}"

    helped = _run(bin_dir, tmp_path, "demo", "--help")
    assert helped.returncode == 0 and "--scenario" in helped.stdout, helped.stderr[-2000:]
