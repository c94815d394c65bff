"""`sessionbot bench soak`: do long sessions leak memory, file descriptors, tasks or threads?

N sessions, two speakers each, are fed the shared real speech (LJ Speech, dealt out in turns as in
`bench asr`) in real time, looped, for M minutes, through the transcription path (streams → one shared
engine). Every `interval_s` the process's resident memory, open file descriptors, asyncio tasks,
threads and the engine's queue depth are sampled. Baseline: the same counts after the model is loaded
and has decoded once (so its worker threads exist), before any session starts. Verdict: RSS growth from
the end of warm-up to the last sample ≤ `max_growth_mb`, and once the sessions end no task, thread or
descriptor beyond the baseline.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil

from bot.audio.pcm import ASR_RATE
from bot.bench.asr import load_clips, two_speaker_tracks
from bot.config import Settings
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.engine import TranscriptionEngine
from bot.transcribe.file import CHUNK, transcribe_pcm
from bot.transcribe.segment import Participant
from bot.transcribe.stream import ParticipantStream, store_all

SETTLE_S = 2.0  # after the sessions end, time for cancelled work to unwind before counting leftovers


@dataclass(frozen=True)
class SoakLoad:
    sessions: int = 3
    minutes: float = 8.0
    interval_s: float = 10.0
    warmup_s: float = 60.0
    max_growth_mb: float = 20.0
    language: str = "en"


def _counts(process: psutil.Process, engine: TranscriptionEngine, started: float) -> dict[str, Any]:
    return {
        "t_s": round(time.monotonic() - started, 1),
        "rss_mb": round(process.memory_info().rss / 2**20, 1),
        "fds": process.num_fds(),
        "tasks": len(asyncio.all_tasks()),
        "threads": threading.active_count(),
        "os_threads": process.num_threads(),  # native decoder threads too
        "queue_depth": int(engine.metrics["queue_depth"]),  # type: ignore[call-overload]
    }


async def _feed_looped(stream: ParticipantStream, audio: np.ndarray, started: float, seconds: float) -> None:
    chunks = int(seconds * ASR_RATE) // CHUNK
    for index in range(chunks):
        start = (index * CHUNK) % max(1, audio.size - CHUNK)
        stream.push_pcm(audio[start : start + CHUNK])
        await asyncio.sleep(max(0.0, started + (index + 1) * CHUNK / ASR_RATE - time.monotonic()))


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)  # one plain line per sample: visible in CI logs too


async def run_soak(settings: Settings, load: SoakLoad, report: Callable[[str], None] = _progress) -> dict[str, Any]:
    process = psutil.Process()
    tracks, _ = two_speaker_tracks(load_clips())
    report(f"loading model {settings.transcription.model}")
    engine = TranscriptionEngine(settings.transcription, settings.paths.cache_dir)
    try:
        warm = await transcribe_pcm(engine, settings, tracks[0][: 10 * ASR_RATE], load.language, realtime=False)
        del warm
        gc.collect()
        started = time.monotonic()
        baseline = _counts(process, engine, started)
        report(f"baseline: {baseline}")
        samples = await _soak(engine, settings, tracks, load, started, process, report)
        await asyncio.sleep(SETTLE_S)
        gc.collect()
        after = _counts(process, engine, started)
        report(f"after the sessions: {after}")
    finally:
        await engine.aclose()
    return _verdict(load, settings, baseline, samples, after)


async def _soak(engine: TranscriptionEngine, settings: Settings, tracks: list[np.ndarray], load: SoakLoad,
                started: float, process: psutil.Process, report: Callable[[str], None]) -> list[dict[str, Any]]:
    seconds = load.minutes * 60.0
    streams = []
    for n in range(load.sessions):
        buffer = TranscriptBuffer(f"soak{n}")
        for speaker in range(len(tracks)):
            streams.append(ParticipantStream(
                Participant(f"p{speaker}", f"speaker {speaker}"), engine, store_all(buffer), settings.vad,
                load.language, lambda: time.monotonic() - started, session_id=buffer.session_id,
            ))
    feeders = asyncio.gather(*(_feed_looped(s, tracks[i % len(tracks)], started, seconds)
                               for i, s in enumerate(streams)))
    samples: list[dict[str, Any]] = []
    try:
        while not feeders.done():
            sample = _counts(process, engine, started)
            samples.append(sample)
            report(f"{sample['t_s']:7.1f}/{seconds:.0f} s  RSS {sample['rss_mb']:7.1f} MB  fds {sample['fds']:4d}  "
                   f"tasks {sample['tasks']:4d}  threads {sample['threads']:3d}  queue {sample['queue_depth']:3d}")
            await asyncio.wait([feeders], timeout=load.interval_s)
        await feeders
        await asyncio.gather(*(s.finish() for s in streams))
    finally:
        feeders.cancel()
    samples.append(_counts(process, engine, started))
    return samples


def _verdict(load: SoakLoad, settings: Settings, baseline: dict[str, Any], samples: list[dict[str, Any]],
             after: dict[str, Any]) -> dict[str, Any]:
    warmed = [s for s in samples if s["t_s"] >= load.warmup_s] or samples[-1:]
    growth = round(samples[-1]["rss_mb"] - warmed[0]["rss_mb"], 1)
    leftovers = {key: after[key] - baseline[key] for key in ("tasks", "threads", "os_threads", "fds")}
    return {
        "model": settings.transcription.model,
        "sessions": load.sessions,
        "minutes": load.minutes,
        "interval_s": load.interval_s,
        "warmup_s": load.warmup_s,
        "baseline": baseline,
        "samples": samples,
        "after": after,
        "rss_growth_after_warmup_mb": growth,
        "rss_peak_mb": max(s["rss_mb"] for s in samples),
        "queue_depth_max": max(s["queue_depth"] for s in samples),
        "left_beyond_baseline": leftovers,
        "verdict": {
            "rss_growth_ok": growth <= load.max_growth_mb,
            "nothing_left_running": all(v <= 0 for v in leftovers.values()),
        },
    }
