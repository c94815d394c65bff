"""`sessionbot bench asr`: latency, accuracy, capacity, memory and hallucinations of the
streaming transcriber, each against a baseline run in the same process.

Load: sessions of two speakers taking turns, each session reading different real recordings, in its
own language, from its own start offset, with varied pauses (bot/bench/workload.py), paced in real
time for minutes per level, through the same streams, prompts, engine, batching, partials and load
policy as a call (no WebRTC: the engine is the hot path whose cost decides capacity).

Baselines in the same run: offline faster-whisper (same model, beam 5) on the same recordings for
the word error rate, per language (bot/bench/asr_wer.py); and, for latency and capacity, the same
streaming pipeline and scheduling with Whisper's full 30 s window (`window_padding_s = 0`, what
faster-whisper does), so the ratio measures the window, not the scheduling. The same engine also
runs without early finals, without context and (when the beam is above 1) with every final
greedy, so what each of them costs or buys is measured on the same audio.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from bot.audio.pcm import ASR_RATE, load_audio
from bot.bench import asr_wer
from bot.bench.stats import percentile
from bot.bench.workload import PAUSE_RANGE_S, SessionAudio, clip_pool, data_dir, plan_sessions
from bot.config import Settings
from bot.consent.announcements import load_announcements
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.engine import TranscriptionEngine
from bot.transcribe.file import CHUNK, transcribe_pcm
from bot.transcribe.segment import Participant
from bot.transcribe.stream import ParticipantStream, store_all

TURN_PAUSE_S = 1.0


def load_clips(extra_audio: Path | None = None, extra_ref: str | None = None) -> list[tuple[np.ndarray, str]]:
    speech = data_dir() / "speech"
    clips = []
    for line in (speech / "transcripts.txt").read_text().splitlines():
        clip_id, _, reference = line.partition("|")
        clips.append((load_audio(str(speech / f"{clip_id}.wav")), reference))
    if extra_audio is not None:
        clips.append((load_audio(str(extra_audio)), extra_ref or ""))
    return clips


def two_speaker_tracks(clips: list[tuple[np.ndarray, str]]) -> tuple[list[np.ndarray], str]:
    """Deal clips to speakers A and B in turn; each track is silent while the other talks."""
    pause = np.zeros(int(TURN_PAUSE_S * ASR_RATE), dtype=np.int16)
    tracks: list[list[np.ndarray]] = [[], []]
    for index, (samples, _) in enumerate(clips):
        speaker = index % 2
        tracks[speaker] += [samples, pause]
        tracks[1 - speaker] += [np.zeros(samples.size, dtype=np.int16), pause]
    return [np.concatenate(t) for t in tracks], " ".join(ref for _, ref in clips)


@dataclass
class LoadResult:
    sessions: int
    latencies_s: list[float]
    overflowed: int
    late_s: float  # how far behind real time the slowest stream finished
    peak_rss_mb: float
    compute_s: dict[str, float]  # decoder seconds by kind (final, partial)
    session_audio_s: float  # seconds of call audio, all sessions together
    cpu_s: float  # process CPU seconds while the level ran (all threads)
    partials: int
    degraded: dict[str, int]  # partials shed, finals decoded greedily / with the beam
    early: dict[str, int]  # early finals used as the final / wasted (speech went on after the pause)

    def summary(self) -> dict[str, Any]:
        total = sum(self.compute_s.values())
        finals = self.degraded.get("finals_greedy", 0) + self.degraded.get("finals_with_beam", 0)
        return {
            "sessions": self.sessions,
            "cpu_s_per_session_audio_s": round(self.cpu_s / self.session_audio_s, 4),
            "compute_share_partials": round(self.compute_s.get("partial", 0.0) / total, 3) if total else None,
            "compute_share_early": round(self.compute_s.get("early", 0.0) / total, 3) if total else None,
            "early_finals_used": self.early["used"],
            "early_finals_wasted": self.early["wasted"],
            "partials": self.partials,
            "partials_shed": self.degraded.get("partials_shed", 0),
            "finals_greedy_share": round(self.degraded.get("finals_greedy", 0) / finals, 3) if finals else None,
            "finals_in_context_share": round(self.degraded.get("finals_in_context", 0) / finals, 3) if finals else None,
            "latency_median_s": percentile(self.latencies_s, 50),
            "latency_p95_s": percentile(self.latencies_s, 95),
            "utterances": len(self.latencies_s),
            "overflowed": self.overflowed,
            "finished_behind_real_time_s": round(self.late_s, 2),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "real_time": self.real_time,
        }

    @property
    def real_time(self) -> bool:
        p95 = percentile(self.latencies_s, 95)
        return self.overflowed == 0 and p95 is not None and p95 <= 2.0 and self.late_s <= 2.0


async def _play(session: SessionAudio, streams: list[ParticipantStream], started: float) -> None:
    """Both speakers' audio, 20 ms at a time, at the pace of a call."""
    for index, start in enumerate(range(0, session.length, CHUNK)):
        for speaker, stream in enumerate(streams):
            stream.push_pcm(session.chunk(speaker, start, CHUNK))
        await asyncio.sleep(max(0.0, started + (index + 1) * CHUNK / ASR_RATE - time.monotonic()))


async def run_load(engine: TranscriptionEngine, settings: Settings, plans: list[SessionAudio]) -> LoadResult:
    process = psutil.Process()
    peak = process.memory_info().rss
    cpu_before = sum(process.cpu_times()[:2])
    load_before = engine.load.summary()
    compute_before = dict(engine.compute_s)
    started = time.monotonic()
    partials = 0

    def on_partial(*_: object) -> None:  # a call checks every partial for objections; count them here
        nonlocal partials
        partials += 1

    sessions: list[list[ParticipantStream]] = []
    for n, plan in enumerate(plans):
        buffer = TranscriptBuffer(f"bench{n}")
        prompt = load_announcements(settings.paths.announcements_dir, plan.language).asr_prompt \
            if settings.transcription.consent_prompt else None
        sessions.append([ParticipantStream(
            Participant(f"p{speaker}", f"speaker {speaker}"), engine, store_all(buffer), settings.vad, plan.language,
            lambda: time.monotonic() - started, session_id=buffer.session_id, prompt=prompt, on_partial=on_partial,
        ) for speaker in range(2)])

    async def watch_memory() -> None:
        nonlocal peak
        while True:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.5)

    watcher = asyncio.ensure_future(watch_memory())
    await asyncio.gather(*(_play(plan, streams, started) for plan, streams in zip(plans, sessions, strict=True)))
    audio_end = started + max(plan.length for plan in plans) / ASR_RATE
    streams = [s for pair in sessions for s in pair]
    await asyncio.gather(*(s.finish() for s in streams))
    late = max(0.0, time.monotonic() - audio_end)
    watcher.cancel()
    load_after = engine.load.summary()
    return LoadResult(
        len(plans), [lat for s in streams for lat in s.latencies_s], sum(s.overflowed for s in streams), late,
        peak / 2**20, {kind: seconds - compute_before.get(kind, 0.0) for kind, seconds in engine.compute_s.items()},
        sum(plan.seconds for plan in plans), sum(process.cpu_times()[:2]) - cpu_before, partials,
        {key: load_after[key] - load_before.get(key, 0) for key in load_after},
        {"used": sum(s.early.used for s in streams), "wasted": sum(s.early.wasted for s in streams)},
    )


def synthetic_non_speech(seconds_each: float = 60.0, seed: int = 3) -> tuple[np.ndarray, list[str]]:
    """5 minutes of what must yield no text: silence, line noise, keyboard, music, breathing."""
    rng = np.random.default_rng(seed)
    n = int(seconds_each * ASR_RATE)
    t = np.arange(n) / ASR_RATE
    silence = np.zeros(n)
    hiss = rng.normal(0, 0.01, n) + 0.02 * np.sin(2 * np.pi * 50 * t)  # line noise with mains hum
    keyboard = np.zeros(n)
    for click in rng.integers(0, n - 200, int(seconds_each * 6)):
        keyboard[click : click + 200] += rng.normal(0, 0.2, 200) * np.exp(-np.arange(200) / 30)
    music = sum(0.08 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    breath_envelope = np.clip(np.sin(2 * np.pi * 0.25 * t), 0, None) ** 2
    breathing = np.convolve(rng.normal(0, 0.05, n), np.ones(40) / 40, mode="same") * breath_envelope
    parts = [silence, hiss, keyboard, music, breathing]
    audio = np.concatenate(parts)
    return (np.clip(audio, -1, 1) * 32767).astype(np.int16), ["silence", "line noise", "keyboard", "music", "breathing"]




@dataclass(frozen=True)
class AsrBenchPlan:
    levels: list[int]
    minutes: float = 3.0
    lockstep: bool = False  # the worst case: every session's utterances end at the same instant
    seed: int = 11
    wer_beams: tuple[int, ...] = (1, 5)


async def _level(engine: TranscriptionEngine, settings: Settings, plans: list[SessionAudio],
                 report: Callable[[str], None], label: str) -> LoadResult:
    seconds = max(p.seconds for p in plans)
    ticker = asyncio.ensure_future(_tick(report, label, seconds))
    try:
        return await run_load(engine, settings, plans)
    finally:
        ticker.cancel()


async def _tick(report: Callable[[str], None], label: str, seconds: float) -> None:
    started = time.monotonic()
    while True:
        await asyncio.sleep(30.0)
        report(f"  {label}: {time.monotonic() - started:4.0f}/{seconds:.0f} s")


@contextmanager
def _load_changed(engine: TranscriptionEngine, **changes: Any) -> Iterator[None]:
    """The engine's load policy with some settings changed for one same-run variant, then restored."""
    before = {name: getattr(engine.load, name) for name in changes}
    for name, value in changes.items():
        setattr(engine.load, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(engine.load, name, value)


async def run_asr_bench(settings: Settings, plan: AsrBenchPlan, report: Callable[[str], None]) -> dict[str, Any]:
    pool = clip_pool()
    seconds = plan.minutes * 60.0
    results: dict[str, Any] = {
        "model": settings.transcription.model, "beam_size": settings.transcription.beam_size,
        "greedy_when_waiting": settings.transcription.greedy_when_waiting, "cpu_count": os.cpu_count(),
        "context_s": settings.transcription.context_s,
        "num_workers": settings.transcription.num_workers,
        "workload": {"seconds_per_level": seconds, "lockstep_worst_case": plan.lockstep, "seed": plan.seed,
                     "pauses_s": list(PAUSE_RANGE_S), "languages": {k: len(v) for k, v in pool.items()}},
    }
    report(f"loading {settings.transcription.model}")
    engine = TranscriptionEngine(settings.transcription, settings.paths.cache_dir)
    results["model_load_s"] = round(engine.load_s, 2)

    report("word error rate: streaming (finals at beam " + "/".join(map(str, plan.wer_beams))
           + ") against offline faster-whisper (beam 5), per language")
    wer = await asr_wer.compare(engine, settings, list(plan.wer_beams))
    columns = [c for c in next(iter(wer.values())) if c not in ("language", "words")]
    results["wer"] = {"sets": wer, "pooled": {column: asr_wer.pooled(wer, column) for column in columns}}

    load: dict[int, LoadResult] = {}
    for level in plan.levels:
        plans = plan_sessions(pool, level, seconds, plan.seed, plan.lockstep)
        report(f"{level} session(s) × 2 speakers for {seconds:.0f} s, real time")
        load[level] = await _level(engine, settings, plans, report, f"{level} session(s)")
        row = load[level].summary()
        report(f"  p95 {row['latency_p95_s']} s, behind {row['finished_behind_real_time_s']} s, "
               f"overflow {row['overflowed']}, real time: {row['real_time']}")
    capacity = max((lv for lv in plan.levels if load[lv].real_time), default=0)

    # Same engine and sessions without early finals: what deciding during the hang-over buys, alone and at capacity.
    late_finals = settings.model_copy(update={"vad": settings.vad.model_copy(update={"early_final_ms": 0})})
    without_early: dict[int, LoadResult] = {}
    if settings.vad.early_final_ms:
        for level in sorted({plan.levels[0], capacity or plan.levels[0]}):
            plans = plan_sessions(pool, level, seconds, plan.seed, plan.lockstep)
            report(f"without early finals: {level} session(s)")
            without_early[level] = await _level(engine, late_finals, plans, report, f"without early finals {level}")

    # Same engine and sessions with each utterance decoded alone: what hearing finals in context costs.
    without_context: dict[int, LoadResult] = {}
    if engine.load.context:
        level = plan.levels[0]
        with _load_changed(engine, context=False):
            report(f"without context: {level} session(s)")
            without_context[level] = await _level(engine, settings, plan_sessions(pool, level, seconds, plan.seed,
                                                  plan.lockstep), report, f"without context {level}")

    # Same engine and sessions with every final greedy: what the beam costs in latency and capacity.
    finals_greedy: dict[int, LoadResult] = {}
    if engine.load.beam_size > 1:
        with _load_changed(engine, beam_size=1):
            for level in sorted({plan.levels[0], capacity or plan.levels[0]}):
                report(f"finals greedy: {level} session(s)")
                finals_greedy[level] = await _level(engine, settings, plan_sessions(pool, level, seconds, plan.seed,
                                                    plan.lockstep), report, f"finals greedy {level}")

    report("silence and noise (5 × 60 s)")
    noise, kinds = synthetic_non_speech()
    heard = await transcribe_pcm(engine, settings, noise, "en", realtime=False)
    words = sum(len(str(s["text"]).split()) for s in heard.segments + heard.partials)
    await engine.aclose()

    # Same scheduling, batching and partial policy, with Whisper's 30 s window: the ratio is the window's.
    baseline = TranscriptionEngine(settings.transcription.model_copy(update={"window_padding_s": 0.0}),
                                   settings.paths.cache_dir)
    baseline_load: dict[int, LoadResult] = {}
    for level in sorted({plan.levels[0], capacity or plan.levels[0]}):
        plans = plan_sessions(pool, level, seconds, plan.seed, plan.lockstep)
        report(f"baseline (30 s window): {level} session(s)")
        baseline_load[level] = await _level(baseline, settings, plans, report, f"baseline {level}")
    await baseline.aclose()

    one, most = load[plan.levels[0]], load[max(plan.levels)]
    results.update({
        "load": [load[lv].summary() for lv in plan.levels],
        "baseline_full_window": [baseline_load[lv].summary() for lv in sorted(baseline_load)],
        "early_final_ms": settings.vad.early_final_ms,
        "without_early_finals": [without_early[lv].summary() for lv in sorted(without_early)],
        "without_context": [without_context[lv].summary() for lv in sorted(without_context)],
        "finals_greedy": [finals_greedy[lv].summary() for lv in sorted(finals_greedy)],
        "capacity_sessions_real_time": capacity,
        "memory": {
            "rss_1_session_mb": round(one.peak_rss_mb, 1),
            f"rss_{most.sessions}_sessions_mb": round(most.peak_rss_mb, 1),
            "per_extra_session_mb": round((most.peak_rss_mb - one.peak_rss_mb) / (most.sessions - one.sessions), 1)
            if most.sessions > one.sessions else None,
        },
        "hallucination": {"audio_s": round(noise.size / ASR_RATE), "kinds": kinds, "words": words,
                          "dropped_by_filters": dict(engine.dropped)},
    })
    return results
