"""`sessionbot bench asr`: latency, accuracy, capacity, memory and hallucinations of the
streaming transcriber, each against a baseline run in the same process.

Audio: the real read speech in the shared data (LJ Speech), dealt out to two
participants per session in turn, with turn-taking pauses, paced in real time
(each participant's stream carries silence while the other speaks, as a call
does). Sessions here are the transcription path only (streams → engine), not
WebRTC: the engine is the hot path whose cost decides capacity.

Baselines in the same run: offline faster-whisper on the same audio with the same
model (for the WER ratio), and the streaming policy with Whisper's full 30 s
window (`window_padding_s = 0`, what faster-whisper does) for latency/capacity.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from rich.progress import Progress

from bot.audio.pcm import ASR_RATE, load_audio, pcm_to_float
from bot.bench.stats import percentile
from bot.config import REPO_ROOT, Settings
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.engine import TranscriptionEngine
from bot.transcribe.file import CHUNK, transcribe_pcm
from bot.transcribe.segment import Participant
from bot.transcribe.stream import ParticipantStream, store_all
from bot.wer import word_error_rate

TURN_PAUSE_S = 1.0


def data_dir() -> Path:
    return Path(os.environ.get("SESSIONBOT_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


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
    hypothesis: str
    compute_s: dict[str, float]  # decoder seconds by kind (final, partial)
    stream_audio_s: float  # audio seconds fed, all streams together
    partials: int

    def summary(self) -> dict[str, Any]:
        total = sum(self.compute_s.values())
        return {
            "sessions": self.sessions,
            # Per audio second of one stream (silence while the other speaker talks included).
            "compute_s_per_audio_s_per_stream": round(total / self.stream_audio_s, 4),
            "compute_share_partials": round(self.compute_s.get("partial", 0.0) / total, 3) if total else None,
            "partials": self.partials,
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


async def _feed(stream: ParticipantStream, audio: np.ndarray, started: float) -> None:
    for index, start in enumerate(range(0, audio.size, CHUNK)):
        stream.push_pcm(audio[start : start + CHUNK])
        await asyncio.sleep(max(0.0, started + (index + 1) * CHUNK / ASR_RATE - time.monotonic()))


async def run_load(engine: TranscriptionEngine, settings: Settings, tracks: list[np.ndarray], sessions: int,
                   language: str) -> LoadResult:
    process = psutil.Process()
    peak = process.memory_info().rss
    started = time.monotonic()
    buffers, streams = [], []
    partials = 0

    def on_partial(*_: object) -> None:  # a call checks every partial for objections; count them here
        nonlocal partials
        partials += 1

    compute_before = dict(engine.compute_s)
    for n in range(sessions):
        buffer = TranscriptBuffer(f"bench{n}")
        buffers.append(buffer)
        for speaker, _ in enumerate(tracks):
            streams.append(ParticipantStream(
                Participant(f"p{speaker}", f"speaker {speaker}"), engine, store_all(buffer), settings.vad, language,
                lambda: time.monotonic() - started, session_id=buffer.session_id, on_partial=on_partial,
            ))
    feeders = [asyncio.ensure_future(_feed(s, tracks[i % len(tracks)], started)) for i, s in enumerate(streams)]

    async def watch_memory() -> None:
        nonlocal peak
        while True:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.5)

    watcher = asyncio.ensure_future(watch_memory())
    await asyncio.gather(*feeders)
    audio_end = started + max(t.size for t in tracks) / ASR_RATE
    await asyncio.gather(*(s.finish() for s in streams))
    late = max(0.0, time.monotonic() - audio_end)
    watcher.cancel()
    latencies = [lat for s in streams for lat in s.latencies_s]
    hypothesis = " ".join(seg.text for seg in buffers[0].segments())
    compute = {kind: seconds - compute_before.get(kind, 0.0) for kind, seconds in engine.compute_s.items()}
    fed_s = sum(tracks[i % len(tracks)].size for i in range(len(streams))) / ASR_RATE
    return LoadResult(sessions, latencies, sum(s.overflowed for s in streams), late, peak / 2**20, hypothesis,
                      compute, fed_s, partials)


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


def offline_text(engine: TranscriptionEngine, audio: np.ndarray, language: str, beam_size: int) -> str:
    segments, _ = engine.decoder.model.transcribe(
        pcm_to_float(audio), language=engine.language_for(language), beam_size=beam_size, vad_filter=True,
    )
    return " ".join(s.text.strip() for s in segments)


async def run_asr_bench(settings: Settings, levels: list[int], language: str = "en",
                        extra_audio: Path | None = None, extra_ref: str | None = None) -> dict[str, Any]:
    clips = load_clips(extra_audio, extra_ref)
    tracks, reference = two_speaker_tracks(clips)
    audio_s = max(t.size for t in tracks) / ASR_RATE
    results: dict[str, Any] = {"model": settings.transcription.model, "audio_per_session_s": round(audio_s, 1),
                               "cpu_count": os.cpu_count()}
    baseline_settings = settings.transcription.model_copy(update={"window_padding_s": 0.0})
    with Progress() as progress:
        task = progress.add_task("loading model", total=None)
        engine = TranscriptionEngine(settings.transcription, settings.paths.cache_dir)
        baseline = TranscriptionEngine(baseline_settings, settings.paths.cache_dir)
        results["model_load_s"] = round(engine.load_s, 2)

        progress.update(task, description="offline faster-whisper (baseline for WER)")
        mixed = np.clip(tracks[0].astype(np.int32) + tracks[1], -32768, 32767).astype(np.int16)  # turns never overlap
        offline = await asyncio.to_thread(offline_text, engine, mixed, language, settings.transcription.beam_size)
        offline_wer = word_error_rate(reference, offline, language)

        load: dict[int, LoadResult] = {}
        for level in levels:
            progress.update(task, description=f"{level} session(s) × 2 speakers, real time ({audio_s:.0f} s)")
            load[level] = await run_load(engine, settings, tracks, level, language)
        streaming_wer = word_error_rate(reference, load[levels[0]].hypothesis, language)
        base_levels = sorted({levels[0], max(lv for lv in levels if load[lv].real_time) if any(
            load[lv].real_time for lv in levels) else levels[0]})
        baseline_load: dict[int, LoadResult] = {}
        for level in base_levels:
            progress.update(task, description=f"baseline (30 s window): {level} session(s)")
            baseline_load[level] = await run_load(baseline, settings, tracks, level, language)

        progress.update(task, description="5 minutes of silence and noise")
        noise, kinds = synthetic_non_speech()
        heard = await transcribe_pcm(engine, settings, noise, language, realtime=False)
        words = sum(len(str(s["text"]).split()) for s in heard.segments + heard.partials)
        engine.close()
        baseline.close()

    capacity = max((lv for lv in levels if load[lv].real_time), default=0)
    one, most = load[levels[0]], load[max(levels)]
    results.update({
        "wer": {"streaming": round(streaming_wer, 4), "offline": round(offline_wer, 4),
                "ratio": round(streaming_wer / offline_wer, 3) if offline_wer else None},
        "load": [load[lv].summary() for lv in levels],
        "baseline_full_window": [baseline_load[lv].summary() for lv in base_levels],
        "capacity_sessions_real_time": capacity,
        "memory": {
            "rss_1_session_mb": round(one.peak_rss_mb, 1),
            f"rss_{most.sessions}_sessions_mb": round(most.peak_rss_mb, 1),
            "per_extra_session_mb": round((most.peak_rss_mb - one.peak_rss_mb) / (most.sessions - 1), 1)
            if most.sessions > 1 else None,
        },
        "hallucination": {"audio_s": round(noise.size / ASR_RATE), "kinds": kinds, "words": words,
                          "dropped_by_filters": dict(engine.dropped)},
    })
    return results
