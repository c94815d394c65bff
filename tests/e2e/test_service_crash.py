"""kill -9 of `sessionbot run` mid-session, then a restart: the restarted service writes the recovered
note with every segment finalized before the kill (into the clinician's directory), and, the call being
still on and within its window, joins it again; SIGTERM then leaves politely and writes the note of
what was said since; the journal is unreadable without the key."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from bot.audio.tts import render_speech
from bot.call.room import RoomConnector
from bot.call.room_server import RoomServer
from bot.transcribe.journal import JournalError, generate_key, read_journal
from tests.e2e.service_helpers import log_text, session_toml, states, window, write_config, write_schedule
from tests.integration.conftest import drain, wait_for
from tests.speech_checks import heard

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

BEFORE = ["My sister visited on Sunday and we cooked pancakes together.",
          "The new job starts on Monday and I am a little nervous about it."]
AFTER = "I have been walking the dog by the river every evening."


async def start_service(schedule: Path, config: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", "--schedule", str(schedule), "--config", str(config), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )


async def speak(client: RoomConnector, text: str) -> None:
    samples, rate = render_speech(text, "en-us", 150)
    await client.speak(samples, rate)
    await asyncio.sleep(1.0)


async def test_kill_9_then_restart_recovers_every_finalized_segment_and_rejoins(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = {**os.environ, "SESSIONBOT_JOURNAL_KEY": generate_key()}
    notes = tmp_path / "notes" / "rivera"
    async with RoomServer({"r": "tok"}, port=0) as room:
        start, end = window(2, 300)
        schedule = write_schedule(tmp_path, [session_toml("s1", room.link("r", role="clinician").link, "rivera", start, end)])
        client = RoomConnector(room.link("r"), "Sam", role="client")
        await client.join()
        pump = asyncio.ensure_future(drain(client))
        service = await start_service(schedule, config, env)
        restarted = None
        try:
            await wait_for(lambda: states(tmp_path).get("s1") == "listening", timeout=120)
            for line in BEFORE:
                await speak(client, line)
            await wait_for(lambda: log_text(tmp_path).count('"segment_transcribed"') == len(BEFORE), timeout=60)
            finalized = log_text(tmp_path).count('"segment_transcribed"')
            os.kill(service.pid, signal.SIGKILL)
            await service.wait()

            [journal] = list((tmp_path / "journal").rglob("*.journal"))
            raw = journal.read_bytes().lower()
            assert b"pancakes" not in raw and b"nervous" not in raw  # encrypted at rest
            with pytest.raises(JournalError):
                read_journal(journal, os.urandom(32))  # and unreadable without the key

            restarted_at = time.monotonic()
            restarted = await start_service(schedule, config, env)
            await wait_for(lambda: any(notes.glob("*.recovered.json")), timeout=120)
            recovery_s = time.monotonic() - restarted_at
            # The call is still on and the window open: the service joins it again.
            await wait_for(lambda: log_text(tmp_path).count('"state": "listening"') == 2, timeout=120)
            await speak(client, AFTER)
            await wait_for(lambda: log_text(tmp_path).count('"segment_transcribed"') == finalized + 1, timeout=60)
            # SIGTERM mid-session: leave politely, write the note for what was said, exit 0.
            restarted.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(restarted.communicate(), 60)
            await client.leave()
        finally:
            pump.cancel()
            for process in (service, restarted):
                if process is not None and process.returncode is None:
                    process.kill()
                    await process.wait()
    print(f"\nrecovery after kill -9: {recovery_s:.1f} s from restart to the recovered note")
    assert restarted.returncode == 0, err.decode()[-2000:]
    [recovered] = list(notes.glob("*.recovered.json"))
    note = json.loads(recovered.read_text())
    text = " ".join(s["text"].lower() for s in note["transcript"])
    assert len(note["transcript"]) == finalized  # segments lost: 0
    assert heard("pancakes", text) and heard("nervous", text) and not heard("river", text)
    assert "Recovered from the encrypted journal" in note["banner"]
    [rejoined] = [p for p in notes.glob("*.json") if not p.name.endswith((".recovered.json", ".audit.json"))]
    assert heard("river", " ".join(s["text"] for s in json.loads(rejoined.read_text())["transcript"]))
    outcome = json.loads((tmp_path / "state" / "service.json").read_text())["sessions"][0]
    assert outcome["state"] == "done" and outcome["outcome"] == "stopped by operator (SIGTERM)"
    assert not journal.exists() and list((tmp_path / "journal").rglob("*.journal")) == []
