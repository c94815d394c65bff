"""`sessionbot demo`: a whole session on loopback, with real parts end to end.

The embedded room runs in this process with the bot; the two simulated
participants run as a separate process and speak a scripted dialogue. The
terminal shows each step; the run ends by printing the note's path.
"""

from __future__ import annotations

import asyncio
import json
import resource
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from bot.call.ice import use_host_addresses
from bot.call.room import RoomConnector
from bot.call.room_server import RoomServer
from bot.config import Settings
from bot.demo.impair import Impairment
from bot.demo.script import script_for
from bot.log import get_logger
from bot.notes.render import clock
from bot.session import SessionResult, SessionRunner
from bot.transcribe.engine import TranscriptionEngine
from bot.transcribe.segment import Segment
from bot.wer import content_word_recall, word_error_rate

log = get_logger(__name__)
ROOM = "demo"
PARTICIPANTS_START_TIMEOUT_S = 60.0


@dataclass
class DemoReport:
    note_markdown: str | None
    note_json: str | None
    session_id: str
    state: str
    reason: str
    language: str
    wall_s: float
    session_s: float
    segments: int
    word_error_rate: float
    content_word_recall: float
    peak_rss_mb: float
    model: str
    model_load_s: float
    participants_exit_code: int | None
    heard: dict[str, Any] = field(default_factory=dict)
    scenario: str = "dialogue"
    objection: dict[str, Any] | None = None
    audit: str | None = None
    network: dict[str, Any] | None = None  # the simulated faults (--impair) and what they did
    gaps: list[dict[str, object]] = field(default_factory=list)  # what the session recorded as not heard


SIGNALLING_DROP_LINE = 2  # mid-call: the third line of the script


def impairment_arg(impairment: Impairment) -> str:
    return (f"loss={impairment.loss * 100:g}%,jitter={impairment.jitter_s * 1000:g}ms,"
            f"blackout={impairment.blackout_s:g}s")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


async def run_demo(
    settings: Settings, console: Console | None = None, report_path: Path | None = None, scenario: str = "dialogue",
    journal_key: bytes | None = None, impairment: Impairment | None = None,
) -> DemoReport:
    console = console or Console()
    started = time.monotonic()
    language = settings.session.language
    script = script_for(language, scenario)
    addresses = settings.ice.host_addresses or ["127.0.0.1"]
    use_host_addresses(addresses)

    server = RoomServer({ROOM: secrets.token_urlsafe(16)}, host="127.0.0.1", port=0)
    await server.start()
    link = server.link(ROOM)
    clinician_link = server.link(ROOM, role="clinician")  # the bot's and the simulated clinician's
    console.print(f"[green]✓[/] room up at {server.base_url}/room/{ROOM} (token required)")

    engine_task = asyncio.create_task(asyncio.to_thread(TranscriptionEngine, settings.transcription, settings.paths.cache_dir))
    console.print(f"… loading speech model [bold]{settings.transcription.model}[/] ({settings.transcription.compute_type})")

    ice_args = [arg for a in addresses for arg in ("--ice-host", a)]
    participants = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.demo.participants", link.link, "--clinician-link", clinician_link.link,
        "--script", script.name, *ice_args,
        *(["--impair", impairment_arg(impairment)] if impairment and impairment.affects_media else []),
        stdout=asyncio.subprocess.PIPE,
    )
    joined = asyncio.Event()
    heard: dict[str, Any] = {}
    network: dict[str, Any] = {"impairment": impairment.describe()} if impairment else {}
    if impairment:
        console.print(f"[yellow]• simulated network faults for the participants: {impairment.describe()}[/]")

    bot_connector: list[RoomConnector] = []  # set once the bot joins (a signalling drop needs its place)

    async def follow_participants() -> None:
        count = 0
        assert participants.stdout is not None
        async for raw in participants.stdout:
            try:
                event = json.loads(raw)
            except json.JSONDecodeError:
                continue
            kind = event.get("event")
            if kind == "joined":
                count += 1
                console.print(f"[green]✓[/] simulated {event['role']} joined: {event['name']}")
                if count == len(script.voices):
                    joined.set()
            elif kind == "announcement_heard":
                console.print(
                    f"[green]✓[/] {event['name']} heard the announcement: {event['voiced_s']} s of speech "
                    f"at {event['mean_voiced_dbfs']} dBFS"
                )
                heard[event["name"]] = {k: event[k] for k in ("received_s", "voiced_s", "mean_voiced_dbfs")}
            elif kind == "line_started":
                console.print(f"  [dim]{event['name']} is speaking (line {event['index'] + 1}/{len(script.lines)})[/]")
                if impairment and impairment.drop_signalling and event["index"] == SIGNALLING_DROP_LINE and bot_connector:
                    dropped = server.drop_connection(ROOM, bot_connector[0].id or "")
                    network["signalling"] = {"dropped_at_line": event["index"], "dropped": dropped}
                    console.print("  [yellow]the bot's signalling socket is cut at the room server[/]")
            elif kind == "bot_left":
                heard["after_last_line"] = event["heard_after_last_line"]
                console.print(
                    "[green]✓[/] the bot left; acknowledgement heard: "
                    + ", ".join(f"{name} {seconds} s" for name, seconds in event["heard_after_last_line"].items())
                )
            elif kind == "blackout":
                network["blackout"] = {k: event[k] for k in ("index", "name", "after_s", "seconds")}
                console.print(f"  [yellow]{event['name']}'s connection goes dark for {event['seconds']:g} s[/]")
            elif kind == "network":
                network.update({k: event[k] for k in ("datagrams", "dropped", "delayed")})
                console.print(f"[yellow]• simulated network: {event['dropped']} of {event['datagrams']} datagrams "
                              f"dropped, {event['delayed']} delayed[/]")
            elif kind == "error":
                console.print(f"[red]✗ participants: {event['message']}[/]")

    follower = asyncio.create_task(follow_participants())
    try:
        await asyncio.wait_for(joined.wait(), PARTICIPANTS_START_TIMEOUT_S)
        engine = await engine_task
        console.print(f"[green]✓[/] model loaded in {engine.load_s:.1f} s on {engine.device}")

        def progress(event: str, data: dict[str, Any]) -> None:
            if event == "state":
                console.print(f"[cyan]• bot: {data['state']}[/]" + (f" ({data['reason']})" if "reason" in data else ""))
                if data["state"] == "objected":
                    console.print("[yellow]  objection: transcription stopped; everything held is discarded[/]")
            elif event == "announced":
                console.print(f"[green]✓[/] announcement sent to {data['participant'].display_name} ({data['kind']})")
            elif event == "partial":
                who = data["participant"].display_name
                console.print(f"  [dim]… {escape(who)} (still speaking): {escape(str(data['text']))}[/]")
            elif event == "segment":
                s: Segment = data["segment"]
                console.print(f"  [bold]{clock(s.start)} {escape(s.display_name)}[/]: {escape(s.text)}")

        connector = RoomConnector(clinician_link, settings.bot.display_name, role="bot",
                                  stun_servers=settings.ice.stun_servers)
        bot_connector.append(connector)
        runner = SessionRunner(settings, connector, engine, on_progress=progress, journal_key=journal_key)
        result: SessionResult = await runner.run()
        if "signalling" in network:
            network["signalling"]["resumed"] = connector.signalling_drops
        exit_code = await asyncio.wait_for(participants.wait(), 30)
        await follower
    finally:
        if participants.returncode is None:
            participants.kill()
            await participants.wait()
        await server.stop()

    reference = " ".join(line.text for line in script.lines)
    hypothesis = " ".join(s.text for s in result.segments)
    report = DemoReport(
        note_markdown=str(result.note_markdown) if result.note_markdown else None,
        note_json=str(result.note_json) if result.note_json else None,
        session_id=result.session_id,
        state=result.state.value,
        reason=result.reason,
        language=language,
        wall_s=round(time.monotonic() - started, 1),
        session_s=round(result.duration_s, 1),
        segments=len(result.segments),
        word_error_rate=round(word_error_rate(reference, hypothesis, language), 4),
        content_word_recall=round(content_word_recall(reference, hypothesis, language), 4),
        peak_rss_mb=round(peak_rss_mb(), 1),
        model=settings.transcription.model,
        model_load_s=round(engine.load_s, 2),
        participants_exit_code=exit_code,
        heard=heard,
        scenario=scenario,
        objection=result.objection.__dict__ if result.objection else None,
        audit=str(result.audit) if result.audit else None,
        network=network or None,
        gaps=list(result.gaps),
    )
    engine.close()
    if result.objection is not None:
        console.print(
            f"[green]✓[/] stopped on objection by {escape(result.objection.display_name)} at {clock(result.objection.at_s)}; "
            f"{report.segments} segments kept; peak memory {report.peak_rss_mb:.0f} MB; {report.wall_s:.0f} s in all"
        )
    else:
        console.print(
            f"[green]✓[/] call ended ({result.reason}); {report.segments} segments; word error rate vs script "
            f"{report.word_error_rate:.1%}; peak memory {report.peak_rss_mb:.0f} MB; {report.wall_s:.0f} s in all"
        )
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(report.__dict__, indent=2))
    if result.objection is not None:
        console.print(f"[bold yellow]Objection record (no content):[/] {result.note_markdown}")
    elif result.note_markdown:
        console.print(f"[bold green]Draft note:[/] {result.note_markdown}")
        console.print(f"[bold green]JSON:[/]       {result.note_json}")
    if result.audit:
        console.print(f"[bold]Consent audit record:[/] {result.audit}")
    return report
