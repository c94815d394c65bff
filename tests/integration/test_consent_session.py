"""The consent policy in real sessions (embedded room, real WebRTC, tiny.en)."""

from __future__ import annotations

import asyncio
import json
import os

import numpy as np
import pytest

from bot.audio.pcm import Resampler, rms_dbfs
from bot.audio.tts import render_speech
from bot.call.room import RoomConnector
from bot.session import SessionRunner, State
from tests.integration.conftest import JOIN_WAIT_S, drain, wait_for
from tests.speech_checks import heard, share_heard

pytestmark = pytest.mark.slow


class Heard:
    """Seconds of voiced audio a participant received from the bot (in memory)."""

    def __init__(self) -> None:
        self.voiced_frames = 0
        self._resample = Resampler(16_000)

    def __call__(self, frame) -> None:
        if rms_dbfs(self._resample(frame)) > -45.0:
            self.voiced_frames += 1

    @property
    def seconds(self) -> float:
        return self.voiced_frames * 0.02


def output_files(settings) -> dict[str, str]:
    directory = settings.paths.output_dir
    return {p.name: p.read_text() for p in directory.iterdir()} if directory.exists() else {}


async def say(connector: RoomConnector, text: str) -> None:
    samples, rate = render_speech(text, "en-us", 150)
    await connector.speak(samples, rate)


async def start(room, engine, settings, *people: tuple[str, str]):
    """The bot joins; then each (name, role) joins and hears the full announcement."""
    runner = SessionRunner(settings, RoomConnector(room.link("r", role="clinician"), "Bot"), engine, journal_key=os.urandom(32))
    session = asyncio.ensure_future(runner.run())
    await wait_for(lambda: runner.state == State.ANNOUNCING, timeout=JOIN_WAIT_S)
    joined = []
    for name, role in people:
        heard = Heard()
        link = room.link("r", role="clinician" if role == "clinician" else "participant")
        connector = RoomConnector(link, name, role=role)
        connector.chat = []  # type: ignore[attr-defined]
        await connector.join()
        joined.append((connector, heard, asyncio.ensure_future(drain(connector, heard, connector.chat))))
    await wait_for(lambda: runner.state == State.LISTENING, timeout=60)
    await wait_for(lambda: len(runner.audit.announced) == len(people), timeout=60)
    return runner, session, joined


async def test_written_mode_without_a_consent_reference_refuses_to_join(room, engine, make_settings) -> None:
    settings = make_settings(consent={"mode": "written"})
    result = await SessionRunner(settings, RoomConnector(room.link("r", role="clinician"), "Bot"), engine).run()
    assert result.state == State.FAILED
    assert "no written consent is recorded" in result.reason and "Fix:" in result.reason
    assert room.rooms["r"].peers == {}  # never connected
    audit = json.loads(result.audit.read_text())
    assert audit["mode"] == "written" and audit["outcome"].startswith("not joined: ")
    assert audit["announced"] == []


async def test_declined_mode_never_joins(room, engine, make_settings) -> None:
    result = await SessionRunner(make_settings(consent={"mode": "declined"}), RoomConnector(room.link("r", role="clinician"), "Bot"), engine).run()
    assert result.state == State.FAILED and "never joins" in result.reason
    assert room.rooms["r"].peers == {}


async def test_written_mode_with_a_reference_joins_and_records_it(room, engine, make_settings) -> None:
    settings = make_settings(consent={"mode": "written", "written_consent_ref": "form 118"},
                             leave={"nobody_joined_timeout_s": 1.0})
    result = await SessionRunner(settings, RoomConnector(room.link("r", role="clinician"), "Bot"), engine).run()
    assert result.state == State.DONE
    assert json.loads(result.audit.read_text())["written_consent_ref"] == "form 118"


async def test_spoken_objection_stops_acknowledges_leaves_and_keeps_nothing(room, engine, make_settings) -> None:
    settings = make_settings(transcription={"model": "tiny.en"})
    runner, session, joined = await start(room, engine, settings, ("Dr. Ana", "clinician"), ("Sam", "client"))
    (clinician, _, _), (client, heard_by_client, _) = joined
    await say(client, "My sister visited on Sunday and we cooked pancakes together.")
    await wait_for(lambda: len(runner.buffer) >= 1)
    journal = settings.journal.directory / f"{runner.session_id}.journal"
    assert journal.is_file()  # the transcript was journaled while the session ran
    before = heard_by_client.seconds
    await say(client, "Actually, I don't want this recorded. Please turn the assistant off.")
    result = await asyncio.wait_for(session, 60)

    assert result.state == State.DONE and result.reason == "objection"
    assert result.objection.display_name == "Sam" and result.objection.source == "speech"
    assert len(runner.buffer) == 0 and result.segments == [] and result.note_json is None
    assert not journal.exists()  # purged from disk too
    assert heard_by_client.seconds - before >= 2.0  # the spoken acknowledgement arrived
    files = output_files(settings)
    assert sorted(name.split(".", 1)[1] for name in files) == ["audit.json", "objection.md"]
    everything = " ".join(files.values()).lower()
    for word in ("sister", "sunday", "pancakes", "recorded", "assistant off"):
        assert word not in everything  # content-free record
    assert "participant sam objected at" in everything and "nothing retained" in everything
    assert room.rooms["r"].peers.keys() == {clinician.id, client.id}  # the bot left
    audit = json.loads(files[next(n for n in files if n.endswith("audit.json"))])
    assert {a["display_name"] for a in audit["announced"]} == {"Dr. Ana", "Sam"}
    # Decided soon after the objecting audio ended. Segment times come from the wall clock at a
    # stream's first frame plus samples, which can run a few tenths of a second ahead (issue 15).
    assert -0.5 < audit["objection"]["at_s"] - audit["objection"]["utterance_end_s"] < 3.0
    # The announcement and the acknowledgement were also posted as text on the data channel.
    for connector in (clinician, client):
        assert any("AI assistant" in t and "transcribing" in t for t in connector.chat)
        assert any("kept nothing" in t for t in connector.chat)
    for connector, _, pump in joined:
        await connector.leave()
        pump.cancel()


async def test_typed_stop_from_anyone_is_an_objection(room, engine, make_settings) -> None:
    settings = make_settings(transcription={"model": "tiny.en"})
    runner, session, joined = await start(room, engine, settings, ("Sam", "client"))
    client = joined[0][0]
    await say(client, "The new job starts on Monday and I am a little nervous.")
    await wait_for(lambda: len(runner.buffer) >= 1)
    await client.send_text("stop")
    result = await asyncio.wait_for(session, 60)
    assert result.reason == "objection" and result.objection.source == "text"
    assert result.note_json is None and len(runner.buffer) == 0
    await client.leave()


async def test_clinician_pause_keeps_nothing_said_while_paused(room, engine, make_settings) -> None:
    settings = make_settings(transcription={"model": "tiny.en"})
    runner, session, joined = await start(room, engine, settings, ("Dr. Ana", "clinician"), ("Sam", "client"))
    (clinician, _, _), (client, _, _) = joined
    await clinician.send_text("/pause")
    await wait_for(lambda: runner.state == State.PAUSED)
    await say(client, "My password for the bank is purple elephant.")
    await asyncio.sleep(1.5)
    await clinician.send_text("/resume")
    await wait_for(lambda: runner.state == State.LISTENING)
    await say(client, "I walked the dog every morning this week.")
    await wait_for(lambda: len(runner.buffer) >= 1)
    await client.send_text("hello")  # ordinary chat is not a command
    await clinician.leave()
    await client.leave()
    result = await asyncio.wait_for(session, 60)
    text = " ".join(s.text.lower() for s in result.segments)
    # What was said after resuming is kept (tiny.en sometimes mishears "the dog": a content-word bound),
    # and nothing said while paused is.
    assert share_heard(["walked", "dog", "morning", "week"], text) >= 0.5, text
    assert not heard("elephant", text) and not heard("password", text)
    note = result.note_json.read_text().lower()
    assert "elephant" not in note and "password" not in note
    pauses = json.loads(result.audit.read_text())["pauses"]
    assert len(pauses) == 1 and pauses[0]["resumed_at_s"] > pauses[0]["paused_at_s"]
    # The clinician reading the note learns that part of the session is missing, and why.
    facts = json.loads(result.note_json.read_text())["facts"]
    assert {"from_s": pauses[0]["paused_at_s"], "to_s": pauses[0]["resumed_at_s"],
            "reason": "paused by clinician"} in facts["gaps"]
    # and that each participant's speech counts only from the end of their announcement
    announced = json.loads(result.audit.read_text())["announced"]
    before = [g for g in facts["gaps"] if g["reason"].startswith("before the announcement had reached")]
    assert len(before) == 2 and len(facts["gaps"]) == 3
    assert max(g["to_s"] for g in before) <= max(a["at_s"] for a in announced) <= pauses[0]["paused_at_s"]
    assert facts["ended_because"] == "everyone else left"
    assert "Not transcribed" in result.note_markdown.read_text() and "(paused by clinician)" in result.note_markdown.read_text()


async def test_without_notes_purpose_no_note_is_written(room, engine, make_settings) -> None:
    settings = make_settings(consent={"purposes": ["risk_flags"]}, leave={"nobody_joined_timeout_s": 1.0})
    result = await SessionRunner(settings, RoomConnector(room.link("r", role="clinician"), "Bot"), engine).run()
    assert result.state == State.DONE and result.note_json is None
    assert [p.name.endswith(".audit.json") for p in settings.paths.output_dir.iterdir()] == [True]


def test_heard_meter_counts_voiced_frames() -> None:
    import av

    meter = Heard()
    loud = (np.sin(np.linspace(0, 600, 960)) * 8000).astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(loud, format="s16", layout="mono")
    frame.sample_rate = 48_000
    meter(frame)
    assert meter.voiced_frames == 1


@pytest.mark.parametrize("purposes, flagged", [(["notes"], False), (["notes", "risk_flags"], True)])
async def test_risk_flags_only_with_consent(room, engine, make_settings, purposes, flagged) -> None:
    settings = make_settings(transcription={"model": "tiny.en"}, consent={"purposes": purposes})
    runner, session, joined = await start(room, engine, settings, ("Sam", "client"))
    client = joined[0][0]
    await say(client, "Some nights I think about killing myself.")
    await wait_for(lambda: len(runner.buffer) >= 1)
    await client.leave()
    result = await asyncio.wait_for(session, 60)
    note = json.loads(result.note_json.read_text())
    markdown = result.note_markdown.read_text()
    if flagged:
        [flag] = note["risk_flags"]
        assert flag["category"] == "suicidal_ideation" and flag["speaker"] == "Sam"
        assert flag["quote"] == result.segments[0].text  # verbatim
        assert "Suicidal ideation mentioned" in markdown and "not an assessment" in markdown
    else:
        assert "risk_flags" not in note
        assert "Risk language" not in markdown and "Suicidal" not in markdown
