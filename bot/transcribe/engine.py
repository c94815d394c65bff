"""One faster-whisper model per process, shared by every participant stream.

Utterances are transcribed on a small pool of worker threads (CTranslate2
releases the GIL); `num_workers` bounds how many decode at once.
Whisper invents text on silence, so callers feed it VAD-gated speech only, and
its own no-speech / log-probability / compression-ratio signals drop the rest.
"""

from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.audio.pcm import pcm_to_float
from bot.config import TranscriptionSettings
from bot.log import get_logger
from bot.transcribe.provision import resolve_model

log = get_logger(__name__)


@dataclass(frozen=True)
class Recognized:
    text: str
    language: str
    confidence: float
    compute_s: float


def _pick_device(requested: str) -> str:
    if requested != "auto":
        return requested
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except Exception:  # noqa: BLE001 - any failure to probe CUDA means CPU
        return "cpu"


class TranscriptionEngine:
    def __init__(self, settings: TranscriptionSettings, cache_dir: Path) -> None:
        from faster_whisper import WhisperModel

        self.settings = settings
        self.device = _pick_device(settings.device)
        compute_type = settings.compute_type if self.device == "cpu" else "int8_float16"
        source = resolve_model(settings.model, cache_dir)
        started = time.perf_counter()
        self._model = WhisperModel(
            source,
            device=self.device,
            compute_type=compute_type,
            cpu_threads=settings.cpu_threads,
            num_workers=settings.num_workers,
        )
        self.load_s = time.perf_counter() - started
        self.multilingual = self._model.model.is_multilingual
        self._pool = ThreadPoolExecutor(max_workers=settings.num_workers, thread_name_prefix="asr")
        log.info("asr_model_loaded", model=settings.model, device=self.device, load_s=round(self.load_s, 2))

    def language_for(self, requested: str) -> str:
        return requested if self.multilingual else "en"

    def transcribe_sync(self, samples: np.ndarray, language: str) -> Recognized | None:
        started = time.perf_counter()
        s = self.settings
        segments, info = self._model.transcribe(
            pcm_to_float(samples),
            language=self.language_for(language),
            beam_size=s.beam_size,
            vad_filter=False,  # already VAD-gated upstream
            condition_on_previous_text=False,
            without_timestamps=True,
            no_speech_threshold=s.no_speech_threshold,
            log_prob_threshold=s.log_prob_threshold,
            compression_ratio_threshold=s.compression_ratio_threshold,
            temperature=0.0,
        )
        kept: list[str] = []
        probabilities: list[float] = []
        dropped = 0
        for segment in segments:
            if (
                segment.no_speech_prob > s.no_speech_threshold and segment.avg_logprob < s.log_prob_threshold
            ) or segment.compression_ratio > s.compression_ratio_threshold:
                dropped += 1
                continue
            text = segment.text.strip()
            if text:
                kept.append(text)
                probabilities.append(math.exp(segment.avg_logprob))
        compute_s = time.perf_counter() - started
        if dropped:
            log.info("asr_output_dropped", pieces=dropped, audio_s=round(samples.size / 16000, 2))
        if not kept:
            return None
        return Recognized(" ".join(kept), info.language, float(np.mean(probabilities)), compute_s)

    async def transcribe(self, samples: np.ndarray, language: str) -> Recognized | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.transcribe_sync, samples, language)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
