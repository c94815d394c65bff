"""`sessionbot check-objection` and `sessionbot announce`, run as a user runs them (real espeak-ng,
real Whisper base, the in-call detector)."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from bot.audio.tts import render_speech

pytestmark = pytest.mark.slow


def sessionbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(("language", "text", "objection"), [
    ("es", "No quiero que me grabe.", True),
    ("es", "No me importa, de verdad.", False),
    ("en", "I don't want to go to work.", False),
])
def test_check_objection_on_text_prints_the_documented_json(language: str, text: str, objection: bool) -> None:
    done = sessionbot("check-objection", "--lang", language, "--text", text, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"objection", "language", "heard", "decision_s", "rule", "would_ask"}
    assert result["objection"] is objection and result["language"] == language and result["heard"] == text
    assert (result["rule"] is not None) is objection


def write_wav(path: Path, text: str) -> None:
    samples, rate = render_speech(text, "en-us", 160)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())


def test_check_objection_on_a_recording_transcribes_it_first(tmp_path: Path) -> None:
    objection, other = tmp_path / "objection.wav", tmp_path / "other.wav"
    write_wav(objection, "Please stop recording. I do not want this recorded.")
    write_wav(other, "I slept better this week and walked every morning.")
    done = sessionbot("check-objection", "--lang", "en", "--audio", str(objection), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["objection"] is True and "record" in result["heard"].lower()
    assert result["decision_s"] is not None and 0 < result["decision_s"] < 10
    done = sessionbot("check-objection", "--lang", "en", "--audio", str(other), "--json")
    result = json.loads(done.stdout)
    assert result["objection"] is False and "slept" in result["heard"].lower() and result["decision_s"] is None


def test_check_objection_needs_exactly_one_input() -> None:
    done = sessionbot("check-objection", "--lang", "en")
    assert done.returncode != 0 and "exactly one of --text or --audio" in done.stderr + done.stdout


def test_announce_renders_the_spanish_announcement_for_review(tmp_path: Path) -> None:
    out = tmp_path / "es.wav"
    done = sessionbot("announce", "--lang", "es", "--out", str(out))
    assert done.returncode == 0, done.stderr
    with wave.open(str(out), "rb") as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        seconds = wav.getnframes() / wav.getframerate()
    assert 10 < seconds < 60
