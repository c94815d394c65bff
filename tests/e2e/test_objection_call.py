"""A participant objects in Spanish right after the announcement (`sessionbot demo
--scenario objection --language es`): the bot acknowledges in Spanish, leaves, and
nothing of the session remains on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.demo.script import SPANISH_OBJECTION
from bot.wer import normalize

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_spanish_objection_stops_the_bot_and_leaves_nothing(tmp_path: Path) -> None:
    work, temp = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    temp.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--language", "es", "--scenario", "objection",
         "--report", str(tmp_path / "report.json")],
        cwd=work, env={**os.environ, "TMPDIR": str(temp), "COLUMNS": "200"},
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    report = json.loads((tmp_path / "report.json").read_text())

    assert report["reason"] == "objection" and report["segments"] == 0
    assert report["objection"]["display_name"] == "Samuel" and report["objection"]["source"] == "speech"
    assert report["objection"]["language"] == "es"
    # Both people heard the Spanish acknowledgement after the objection, then the bot left.
    for name, seconds in report["heard"]["after_last_line"].items():
        assert seconds >= 2.0, f"{name} heard only {seconds} s after objecting"

    notes = work / "notes"
    written = sorted(p.name.split(".", 1)[1] for p in notes.iterdir())
    assert written == ["audit.json", "objection.md"]
    everything = " ".join(p.read_text() for p in notes.iterdir()).lower()
    names = {normalize(v.display_name, "es") for v in SPANISH_OBJECTION.voices}  # the record names who objected
    dialogue = {w for line in SPANISH_OBJECTION.lines for w in normalize(line.text, "es").split()
                if len(w) >= 5 and w not in names}
    assert not [w for w in dialogue if w in everything], "dialogue words in the records"
    assert "objected at" in everything and "nothing retained" in everything
    # Nothing else anywhere the bot writes: no transcript, no journal, no audio.
    leftovers = [p for root in (work, temp) for p in root.rglob("*") if p.is_file()
                 and p.parent != notes and not p.name.endswith(".jsonl")]
    assert leftovers == []
    logs = (work / ".sessionbot" / "logs" / "demo.jsonl").read_text().lower()
    assert '"state": "objected"' in logs and not [w for w in dialogue if f" {w} " in logs]
