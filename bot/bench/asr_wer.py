"""Streaming word error rate against offline decoding of the same model, per language.

For each set (the LJ Speech clips; each language of the real multilingual recordings), the clips
are played one after another with pauses, once through the in-call streaming pipeline (VAD,
utterance-sized window, the language's recognizer prompt, finals decoded with the beam under test,
heard after the speaker's previous utterance unless `transcription.context_s` is 0) and once
offline by faster-whisper on the whole recording (beam 5, its own VAD filter): the reference a
streaming system has to match. Each recording's finals are done before the next is played, as in a
call whose pauses outlast decoding (they do: see the latency curve), so the context is there. A
column without context is the same-run baseline. Word counts are reported: twelve multilingual
clips are few, and a ratio on a dozen words is noisy.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from bot.audio.pcm import ASR_RATE, pcm_to_float
from bot.bench.workload import Clip, lj_speech_clips, multilingual_clips
from bot.config import Settings
from bot.consent.announcements import load_announcements
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.engine import TranscriptionEngine
from bot.transcribe.file import stream_pcm
from bot.transcribe.segment import Participant
from bot.transcribe.stream import ParticipantStream, store_all
from bot.wer import word_error_rate

OFFLINE_BEAM = 5
PAUSE_S = 1.0


def wer_sets() -> dict[str, list[Clip]]:
    sets = {"LJ Speech (en)": lj_speech_clips()}
    for language, clips in sorted(multilingual_clips().items()):
        sets[f"multilingual {language}"] = clips
    return sets


def _played(clips: list[Clip]) -> np.ndarray:
    pause = np.zeros(int(PAUSE_S * ASR_RATE), dtype=np.int16)
    return np.concatenate([part for clip in clips for part in (pause, clip.samples)] + [pause])


async def streamed_text(engine: TranscriptionEngine, settings: Settings, clips: list[Clip], language: str,
                        prompt: str | None) -> str:
    """The clips through one participant stream, each one's finals done before the next is played."""
    buffer = TranscriptBuffer("wer")
    stream = ParticipantStream(Participant("reader", "speaker"), engine, store_all(buffer), settings.vad, language,
                               lambda: 0.0, session_id=buffer.session_id, prompt=prompt)
    pause = np.zeros(int(PAUSE_S * ASR_RATE), dtype=np.int16)
    await stream_pcm(stream, pause, realtime=False)
    for clip in clips:
        await stream_pcm(stream, np.concatenate([clip.samples, pause]), realtime=False)
        await stream.settled()
    await stream.finish()
    return " ".join(segment.text for segment in buffer.segments())


def offline_text(engine: TranscriptionEngine, audio: np.ndarray, language: str, beam_size: int) -> str:
    segments, _ = engine.decoder.model.transcribe(
        pcm_to_float(audio), language=engine.language_for(language), beam_size=beam_size, vad_filter=True,
    )
    return " ".join(s.text.strip() for s in segments)


async def compare(engine: TranscriptionEngine, settings: Settings, beams: list[int]) -> dict[str, Any]:
    """Per set: reference word count, offline WER (beam 5) and streaming WER for each final beam, with
    context as configured and, when that is on, without (`streaming_beam<N>_no_context`)."""
    rows: dict[str, Any] = {}
    for name, clips in wer_sets().items():
        language = clips[0].language
        audio = _played(clips)
        reference = " ".join(c.reference for c in clips)
        prompt = load_announcements(settings.paths.announcements_dir, language).asr_prompt \
            if settings.transcription.consent_prompt else None
        offline = await asyncio.to_thread(offline_text, engine, audio, language, OFFLINE_BEAM)
        row: dict[str, Any] = {"language": language, "words": len(reference.split()),
                               "offline_beam5": round(word_error_rate(reference, offline, language), 4)}
        for beam in beams:
            for context in [True, False] if engine.load.context else [False]:
                with engine.load.pinned(beam, context):
                    hypothesis = await streamed_text(engine, settings, clips, language, prompt)
                column = f"streaming_beam{beam}" + ("_no_context" if engine.load.context and not context else "")
                row[column] = round(word_error_rate(reference, hypothesis, language), 4)
        rows[name] = row
    return rows


def pooled(rows: dict[str, Any], column: str) -> float:
    """Word-weighted mean over the sets (each set's WER counts by its words)."""
    words = sum(r["words"] for r in rows.values())
    return round(sum(r[column] * r["words"] for r in rows.values()) / words, 4) if words else 0.0
