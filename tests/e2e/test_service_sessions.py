"""`sessionbot run` over real WebRTC on 127.0.0.1: three overlapping scheduled sessions (one of them added
by editing the schedule while the service runs) are joined at once and give three notes in their
clinicians' directories, while a fourth, refused, keeps retrying beside them; a cancelled session is not
joined; SIGTERM ends the service with status 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.audio.tts import render_speech
from bot.call.base import ParticipantJoined
from bot.call.room import RoomConnector
from bot.call.room_server import RoomServer
from bot.transcribe.journal import generate_key
from tests.e2e.service_helpers import log_text, rss_mb, session_toml, states, window, write_config, write_schedule
from tests.integration.conftest import drain, wait_for
from tests.speech_checks import heard

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

LINES = {"s1": "My sister visited on Sunday and we cooked pancakes together.",
         "s2": "The new job starts on Monday and I am a little nervous about it.",
         "s3": "I have been walking the dog by the river every evening."}
CLINICIAN = {"s1": "rivera", "s2": "rivera", "s3": "lee", "s4": "lee"}


async def watch_for_bot(connector: RoomConnector, seen: list[str]) -> None:
    async for event in connector.events():
        if isinstance(event, ParticipantJoined) and event.participant.role == "bot":
            seen.append(event.participant.display_name)


async def test_three_overlapping_scheduled_sessions_run_at_once_and_give_three_notes(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = {**os.environ, "SESSIONBOT_JOURNAL_KEY": generate_key()}
    rooms = {key: "tok-" + key for key in ("s1", "s2", "s3", "s4")}
    async with RoomServer(rooms, port=0) as room:
        link = {key: room.link(key, role="clinician").link for key in rooms}  # the bot's
        start, end = window(4, 300)
        entries = {key: session_toml(key, link[key], CLINICIAN[key], start, end, cancelled=key in ("s3", "s4"))
                   for key in rooms}
        # A session whose join is refused keeps retrying beside the others and must not disturb them.
        entries["s5"] = session_toml("s5", link["s1"].replace(room.rooms["s1"].clinician_token, "wrong"), "lee", start, end)
        schedule = write_schedule(tmp_path, list(entries.values()))
        clients = {key: RoomConnector(room.link(key), "Sam", role="client") for key in rooms}
        pumps = []
        for key, client in clients.items():
            await client.join()
            pumps.append(asyncio.ensure_future(drain(client)))
        bots_in_s4: list[str] = []
        watcher = RoomConnector(room.link("s4"), "Observer", role="guest")
        await watcher.join()
        pumps.append(asyncio.ensure_future(watch_for_bot(watcher, bots_in_s4)))

        service = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", "--schedule", str(schedule), "--config", str(config), env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        try:
            await wait_for(lambda: '"service_started"' in log_text(tmp_path), timeout=120)
            idle_mb = rss_mb(service.pid)
            await wait_for(lambda: states(tmp_path).get("s3") == "cancelled", timeout=30)
            # Restore s3 in the schedule while the service runs: it must be picked up without a restart.
            entries["s3"] = session_toml("s3", link["s3"], "lee", start, end)
            write_schedule(tmp_path, list(entries.values()))
            await wait_for(lambda: all(states(tmp_path).get(k) == "listening" for k in ("s1", "s2", "s3")),
                           timeout=120)
            busy_mb = rss_mb(service.pid)
            for key in ("s1", "s2", "s3"):
                samples, rate = render_speech(LINES[key], "en-us", 150)
                await clients[key].speak(samples, rate)
            await wait_for(lambda: log_text(tmp_path).count('"segment_transcribed"') >= 3, timeout=60)
            busy_mb = max(busy_mb, rss_mb(service.pid))
            for key in ("s1", "s2", "s3"):
                await clients[key].leave()
            await wait_for(lambda: all(states(tmp_path).get(k) == "done" for k in ("s1", "s2", "s3")), timeout=60)
            service.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(service.communicate(), 60)
        finally:
            if service.returncode is None:
                service.kill()
                await service.wait()
            for pump in pumps:
                pump.cancel()
            await clients["s4"].leave()
            await watcher.leave()
    print(f"\nsessionbot run RSS: idle {idle_mb:.0f} MB, 3 sessions {busy_mb:.0f} MB")
    assert service.returncode == 0, err.decode()[-2000:]
    final = states(tmp_path)
    assert final["s4"] == "cancelled" and bots_in_s4 == []  # the cancelled session was never joined
    assert final["s5"] == "failed"  # retried until SIGTERM, while the three others ran
    s5 = [s for s in json.loads((tmp_path / "state" / "service.json").read_text())["sessions"] if s["key"] == "s5"]
    assert s5[0]["attempts"] >= 2 and "unknown room or wrong join token" in s5[0]["outcome"]
    log = log_text(tmp_path)
    for key in ("s1", "s2", "s3"):
        notes = tmp_path / "notes" / CLINICIAN[key]
        texts = [json.loads(p.read_text()) for p in notes.glob("*.json") if not p.name.endswith(".audit.json")]
        said = [" ".join(s["text"].lower() for s in note["transcript"]) for note in texts]
        word = {"s1": "pancakes", "s2": "nervous", "s3": "river"}[key]
        assert sum(heard(word, text) for text in said) == 1, (key, said)  # in its own session's note, once
        assert word not in log.lower()  # no content in the service log
    assert len([p for p in (tmp_path / "notes").rglob("*.json") if not p.name.endswith(".audit.json")]) == 3
    # Overlap: every session was listening before any of them ended.
    events = [json.loads(line) for line in log.splitlines()]
    listening = [i for i, e in enumerate(events) if e.get("event") == "session_state" and e.get("state") == "listening"]
    ending = [i for i, e in enumerate(events) if e.get("event") == "session_state" and e.get("state") == "ending"]
    assert len(listening) >= 3 and sorted(listening)[2] < min(ending)
    assert list((tmp_path / "journal").rglob("*.journal")) == []  # journals deleted after the notes
