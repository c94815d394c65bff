"""kill -9 of `sessionbot join` mid-session, then `sessionbot recover`: every segment
transcribed before the kill is in the recovered note; the journal is unreadable
without the key and gone afterwards."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.audio.tts import render_speech
from bot.call.room import RoomConnector
from bot.call.room_server import RoomServer
from bot.transcribe.journal import generate_key
from tests.integration.conftest import drain, wait_for
from tests.speech_checks import heard

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

LINES = ["My sister visited on Sunday and we cooked pancakes together.",
         "The new job starts on Monday and I am a little nervous about it."]


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(
        f'[transcription]\nmodel = "tiny.en"\n[ice]\nhost_addresses = ["127.0.0.1"]\n'
        f'[paths]\noutput_dir = "{tmp_path / "notes"}"\n[journal]\ndirectory = "{tmp_path / "journal"}"\n'
        f'[logging]\nfile = "{tmp_path / "bot.jsonl"}"\n'
    )
    return path


def transcribed(tmp_path: Path) -> int:
    log = tmp_path / "bot.jsonl"
    return log.read_text().count('"segment_transcribed"') if log.exists() else 0


async def test_kill_9_mid_session_then_recover_loses_no_segment(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = {**os.environ, "SESSIONBOT_JOURNAL_KEY": generate_key()}
    async with RoomServer({"r": "tok"}, port=0) as room:
        client = RoomConnector(room.link("r"), "Sam", role="client")
        await client.join()
        pump = asyncio.ensure_future(drain(client))
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "join", room.link("r", role="clinician").link, "--config", str(config), env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        await wait_for(lambda: '"state": "listening"' in (tmp_path / "bot.jsonl").read_text()
                       if (tmp_path / "bot.jsonl").exists() else False, timeout=120)
        for line in LINES:
            samples, rate = render_speech(line, "en-us", 150)
            await client.speak(samples, rate)
            await asyncio.sleep(1.0)
        await wait_for(lambda: transcribed(tmp_path) == len(LINES), timeout=60)
        os.kill(bot.pid, signal.SIGKILL)
        await bot.wait()
        await client.leave()
        pump.cancel()

    [journal] = list((tmp_path / "journal").iterdir())
    raw = journal.read_bytes().lower()
    assert b"pancakes" not in raw and b"nervous" not in raw  # encrypted at rest
    assert list((tmp_path / "notes").glob("*.json")) == [] if (tmp_path / "notes").exists() else True

    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "recover", "--config", str(config), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await done.communicate()
    assert done.returncode == 0, err.decode()
    assert "2 segments" in out.decode()
    [note_json] = list((tmp_path / "notes").glob("*.recovered.json"))
    note = json.loads(note_json.read_text())
    text = " ".join(s["text"].lower() for s in note["transcript"])
    assert heard("pancakes", text) and heard("nervous", text)
    assert "Recovered from the encrypted journal" in note["banner"]
    assert not journal.exists()


async def test_recover_with_the_wrong_key_keeps_the_journal(tmp_path: Path) -> None:
    from bot.config import load_settings
    from bot.recover import recover_all
    from bot.transcribe.buffer import TranscriptBuffer
    from bot.transcribe.journal import JournalWriter, TranscriptJournal
    from bot.transcribe.segment import Participant

    settings = load_settings(write_config(tmp_path))
    journal = TranscriptJournal(settings.journal.directory, "s1", os.urandom(32), {"language": "en"})
    buffer = TranscriptBuffer("s1")
    buffer.subscribe(JournalWriter(journal))
    buffer.append(Participant("p1", "Sam", "client"), 1.0, 2.0, "hello there", "en", 0.9)
    journal.close()
    [result] = recover_all(settings, os.urandom(32))
    assert result.note is None and result.error and journal.path.exists()
