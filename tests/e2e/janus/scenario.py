"""One whole Janus session with real parts, run inside its own network namespace.

    unshare -n .venv/bin/python tests/e2e/janus/scenario.py OUT.json SPEECH_DIR

Alice and Bob (headless Chromium, fake microphones fed from LJ Speech
recordings) join room 1234 of a real Janus; the bot joins; Bob leaves and
rejoins; Carol joins after the announcement; Janus is killed and restarted;
then killed for good, so the session ends past janus.unreachable_limit_s.
Every observation goes to OUT.json, which tests/e2e/janus/test_janus_call.py
checks. Measurements (join → first segment, CPU and memory with 1 and 3
remote participants, recovery after the restart) are recorded there too.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bot.call.base import CallJoinError  # noqa: E402
from bot.call.factory import connector_for  # noqa: E402
from bot.config import Settings, settings_from_mapping  # noqa: E402
from bot.session import SessionRunner  # noqa: E402
from bot.transcribe.engine import TranscriptionEngine  # noqa: E402
from bot.transcribe.journal import journal_path, read_journal  # noqa: E402
from tests.e2e.janus.harness import (  # noqa: E402
    HOST, JANUS_HOST, JANUS_PORT, ROOM, Browser, JanusServer, Page, enter_network_namespace, private_workdir, until,
)

BOT = "Session assistant (AI)"
SPEECH = {"Alice": "LJ001-0003.wav", "Bob": "LJ001-0005.wav"}


def session_settings(workdir: Path) -> Settings:
    return settings_from_mapping({
        "bot": {"display_name": BOT},
        "transcription": {"model": "tiny.en"},
        "vad": {"max_utterance_s": 6.0},  # the fake microphones loop their recording without pauses
        "ice": {"host_addresses": [HOST]},
        "leave": {"everyone_left_grace_s": 60.0},
        "janus": {"reconnect_initial_s": 0.25, "reconnect_max_s": 2.0, "unreachable_limit_s": 8.0},
        "journal": {"directory": str(workdir / "journal"), "keep_after_note": True},
        "paths": {"output_dir": str(workdir / "notes"), "cache_dir": os.environ.get(
            "SESSIONBOT_CACHE_DIR", str(Path.home() / ".cache" / "sessionbot"))},
    }, "janus scenario settings")


class Observer:
    """What the bot reported, with arrival times (monotonic seconds)."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, dict[str, Any]]] = []

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        self.events.append((time.monotonic(), event, data))

    def segments(self, name: str | None = None, after: float = 0.0) -> list[Any]:
        return [d["segment"] for t, e, d in self.events
                if e == "segment" and t >= after and (name is None or d["segment"].display_name == name)]

    def first(self, event: str, **match: Any) -> float | None:
        for t, e, d in self.events:
            if e == event and all(_value(d, k) == v for k, v in match.items()):
                return t
        return None


def _value(data: dict[str, Any], key: str) -> Any:
    if key == "name":
        return data["participant"].display_name
    return data.get(key)


async def measure_bot(seconds: float) -> dict[str, float]:
    process = psutil.Process()
    before, started = process.cpu_times(), time.monotonic()
    await asyncio.sleep(seconds)
    after, wall = process.cpu_times(), time.monotonic() - started
    used = (after.user - before.user) + (after.system - before.system)
    return {"cpu_percent_of_one_core": round(100 * used / wall, 1), "rss_mb": round(process.memory_info().rss / 2**20, 1),
            "window_s": round(wall, 1)}


async def received_announcement(page: Page) -> bool:
    state = await page.state()
    return state.get("botEnergy", 0) > 0.01 and state.get("botMaxLevel", 0) > 0.05


async def run(out: Path, speech_dir: Path) -> None:
    workdir = private_workdir()
    report: dict[str, Any] = {"phases": {}, "measured": {}}
    janus = JanusServer(workdir)
    browsers: list[Browser] = []
    engine: TranscriptionEngine | None = None
    observer = Observer()
    session: asyncio.Task[Any] | None = None
    try:
        janus.start()
        settings = session_settings(workdir)
        engine = await asyncio.to_thread(TranscriptionEngine, settings.transcription, settings.paths.cache_dir)
        browsers = [Browser(workdir, name.lower(), speech_dir / wav) for name, wav in SPEECH.items()]
        alice, bob = (browser.open(name, BOT) for browser, name in zip(browsers, SPEECH))
        for page in (alice, bob):
            await until(lambda page=page: _published(page), 30, f"{page.display} publishing")

        # 1. The bot joins two browsers already talking.
        key = os.urandom(32)
        runner = SessionRunner(settings, connector_for(f"janus://{JANUS_HOST}:{JANUS_PORT}/{ROOM}", settings), engine,
                               on_progress=observer, journal_key=key)
        joined_at = time.monotonic()
        session = asyncio.create_task(runner.run())
        await asyncio.sleep(0)
        session_zero = time.monotonic() - runner.clock()  # monotonic time of session second 0
        session.add_done_callback(lambda _: observer("session_over", {}))
        await until(lambda: observer.segments("Alice") and observer.segments("Bob"), 90, "both transcribed", unless=session)
        first = min(t for t, e, _ in observer.events if e == "segment")
        report["measured"]["join_to_first_segment_s"] = round(first - joined_at, 2)
        await until(lambda: received_announcement(alice), 60, "Alice hearing the announcement", unless=session)
        await until(lambda: received_announcement(bob), 60, "Bob hearing the announcement", unless=session)
        await until(lambda: runner.state.value == "listening", 60, "the announcement to end", unless=session)
        report["phases"]["start"] = {"alice": await alice.state(), "bob": await bob.state()}

        # 2. Bob leaves (Alice alone with the bot: the 1-participant figures) and comes back.
        await bob.evaluate("window.leave()")
        await until(lambda: observer.first("participant_left", name="Bob"), 20, "the bot seeing Bob leave", unless=session)
        report["measured"]["one_remote"] = await measure_bot(8.0)
        rejoined_at = time.monotonic()
        await bob.evaluate("window.rejoin()")
        await until(lambda: observer.segments("Bob", after=rejoined_at), 60, "Bob transcribed after rejoining", unless=session)

        # 3. Carol joins after the announcement (a second tab of Alice's browser, hence Alice's recording).
        carol = browsers[0].open("Carol", BOT)
        await until(lambda: observer.first("announced", name="Carol"), 60, "Carol announced to", unless=session)
        await until(lambda: received_announcement(carol), 30, "Carol hearing the re-announcement", unless=session)
        report["phases"]["late_joiner"] = {"carol": await carol.state()}
        report["measured"]["three_remote"] = await measure_bot(8.0)

        # 4. Janus is killed and restarted mid-session.
        before_fault = [s.to_dict() for s in runner.buffer.segments()]
        killed_at = time.monotonic()
        janus.kill()
        await until(lambda: observer.first("connection_lost"), 10, "the bot noticing Janus died", unless=session)
        await asyncio.sleep(1.0)
        janus.start()
        started_again = time.monotonic()
        await until(lambda: observer.first("connection_restored"), 60, "the bot rejoining", unless=session)
        restored = observer.first("connection_restored") or 0.0
        report["measured"]["janus_restart"] = {
            "noticed_after_s": round((observer.first("connection_lost") or 0.0) - killed_at, 3),
            "rejoined_after_janus_up_s": round(restored - started_again, 3),
            "downtime_s": round(restored - killed_at, 3),
        }
        restored_clock = runner.clock()  # session seconds: speech that *started* after the restart
        for name in ("Alice", "Bob"):
            await until(lambda name=name: [s for s in observer.segments(name) if s.start > restored_clock], 90,
                        f"{name} speaking after the restart", unless=session)

        # 5. Janus goes away for good: past janus.unreachable_limit_s the session ends, and writes its note.
        gone_at = time.monotonic()
        janus.kill()
        result = await asyncio.wait_for(session, 60)
        report["measured"]["ended_after_janus_gone_s"] = round(time.monotonic() - gone_at, 2)
        report["note_written"] = bool(result.note_markdown and result.note_markdown.exists())
        report["note_says_not_transcribed"] = bool(
            result.note_markdown and "Not transcribed" in result.note_markdown.read_text())
        audit = json.loads(result.audit.read_text()) if result.audit else {}
        report["audit_outcome"] = audit.get("outcome")
        if audit.get("objection"):  # nobody objects here: the journal is gone, and the rest would say nothing
            objection = audit["objection"]
            raise RuntimeError(f"a false stop: the bot took {objection.get('participant_id')}'s speech for an "
                               f"objection (decided_by={objection.get('decided_by')}, source={objection.get('source')})")
        journal = read_journal(journal_path(settings.journal.directory, runner.session_id), key)
        report.update({
            "state": result.state.value,
            "reason": result.reason,
            "segments_before_fault": before_fault,
            "segments": [s.to_dict() for s in result.segments],
            # When the bot reported each segment, in session seconds: text cannot come before its speech ended.
            "reported_at_s": {d["segment"].id: round(t - session_zero, 2) for t, e, d in observer.events if e == "segment"},
            "participants": [{"id": p.id, "display_name": p.display_name} for p in result.participants],
            "announced": result.announced,
            "gaps": result.gaps,
            "journal_gaps": [{"from_s": g.from_s, "to_s": g.to_s, "reason": g.reason} for g in journal.gaps],
            "restored_at_s": round(restored - joined_at, 2),
            "rejoined_at_s": round(rejoined_at - joined_at, 2),
            "events": [(round(t - joined_at, 2), e, _plain(d)) for t, e, d in observer.events if e != "partial"],
            "browser_errors": {p.display: (await p.state()).get("errors", []) for p in (alice, bob, carol)},
        })
    except Exception as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["events"] = [(round(t, 2), e, _plain(d)) for t, e, d in observer.events if e != "partial"]
        raise
    finally:
        if session is not None and not session.done():
            runner.request_stop("test failed")
            try:
                await asyncio.wait_for(session, 30)
            except Exception:  # noqa: BLE001 - already failing; clean up the rest
                session.cancel()
        for browser in browsers:
            browser.stop()
        janus.kill()
        if engine is not None:
            engine.close()
        report["janus_log_tail"] = janus.log.read_text(errors="replace")[-3000:] if janus.log.exists() else ""
        out.write_text(json.dumps(report, indent=1, default=str))
        shutil.rmtree(workdir, ignore_errors=True)


async def rooms(out: Path) -> None:
    """janus.allow_create_room: an unknown room is refused with the fix, or created; and recreated
    after a Janus restart (rooms made at run time vanish with it). No browsers, no model."""
    workdir = private_workdir()
    janus = JanusServer(workdir)
    report: dict[str, Any] = {}
    connector = None
    try:
        janus.start()
        base = session_settings(workdir)
        link = f"janus://{JANUS_HOST}:{JANUS_PORT}/4321"  # not in deploy/janus
        try:
            await connector_for(link, base).join()
            report["refused"] = None
        except CallJoinError as exc:
            report["refused"] = str(exc)
        allowed = settings_from_mapping({**base.model_dump(mode="json"), "janus": {
            **base.janus.model_dump(mode="json"), "allow_create_room": True}}, "rooms settings")
        connector = connector_for(link, allowed)
        report["present_at_join"] = len(await connector.join())
        events = connector.events().__aiter__()
        janus.kill()
        janus.start()
        kinds = []
        while "ConnectionRestored" not in kinds:
            kinds.append(type(await asyncio.wait_for(anext(events), 30)).__name__)
        report["events_after_restart"] = kinds
        report["rooms_created"] = connector.rooms_created
    except Exception as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if connector is not None:
            await connector.leave()
        janus.kill()
        out.write_text(json.dumps(report, indent=1))
        shutil.rmtree(workdir, ignore_errors=True)


async def _published(page: Page) -> bool:
    return (await page.state()).get("published", 0) > 0


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """Event data as JSON: ids and names, never whole objects."""
    plain: dict[str, Any] = {}
    for key, value in data.items():
        if key == "participant":
            plain["name"] = value.display_name
            plain["id"] = value.id
        elif key == "segment":
            plain["segment"] = value.id
        elif isinstance(value, (str, int, float, bool)) or value is None:
            plain[key] = value
    return plain


if __name__ == "__main__":
    enter_network_namespace()
    if sys.argv[1] == "--rooms":
        asyncio.run(rooms(Path(sys.argv[2])))
    else:
        asyncio.run(run(Path(sys.argv[1]), Path(sys.argv[2])))
