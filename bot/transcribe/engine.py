"""One Whisper model per process, shared by every participant stream of every session.

Streams submit utterances (finals, and partials of long ones); a fair,
bounded scheduler forms batches; `num_workers` batches decode at once on
worker threads (CTranslate2 releases the GIL). Callers feed VAD-gated speech
only; Whisper's own signals drop the rest (see decoder.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from bot import metrics
from bot.config import TranscriptionSettings
from bot.log import get_logger
from bot.transcribe.decoder import Context, Job, Outcome, Recognized, WhisperDecoder, audio_seconds
from bot.transcribe.load import FinalsDecoding, LoadPolicy
from bot.transcribe.provision import resolve_model
from bot.transcribe.scheduler import FairScheduler, Kind, QueueFull, Request

log = get_logger(__name__)

__all__ = ["Outcome", "Recognized", "TranscriptionEngine", "QueueFull"]


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
        model = WhisperModel(
            source, device=self.device, compute_type=compute_type,
            cpu_threads=settings.cpu_threads, num_workers=settings.num_workers,
        )
        self.load_s = time.perf_counter() - started
        self.decoder = WhisperDecoder(model, settings)
        self.multilingual = self.decoder.multilingual
        self._pool = ThreadPoolExecutor(max_workers=settings.num_workers, thread_name_prefix="asr")
        self._scheduler: FairScheduler | None = None
        self._dispatchers: list[asyncio.Task[None]] = []
        self._busy_workers = 0
        self.load = LoadPolicy(settings.beam_size, settings.greedy_when_waiting, settings.max_batch,
                               context=settings.context_s > 0)
        self.dropped: dict[str, int] = {}
        self.compute_s: dict[str, float] = {"final": 0.0, "early": 0.0, "partial": 0.0}  # decoder time, shared out by audio length
        log.info("asr_model_loaded", model=settings.model, device=self.device, load_s=round(self.load_s, 2))

    @property
    def metrics(self) -> dict[str, object]:
        scheduler = self._scheduler.metrics if self._scheduler else None
        return {
            "queue_depth": self._scheduler.depth if self._scheduler else 0,
            "queue_max_depth": scheduler.max_depth if scheduler else 0,
            "decoded": scheduler.decoded if scheduler else 0,
            "batches": scheduler.batches if scheduler else 0,
            "overflow_dropped": dict(scheduler.overflow_dropped) if scheduler else {},
            "dropped": dict(self.dropped),
            "load_level": self.load.level.name.lower(),
            **self.load.summary(),
        }

    def has_idle_worker(self) -> bool:
        """Nothing queued and a decoder worker free: work submitted now starts at once."""
        return self._busy_workers < self.settings.num_workers and (self._scheduler is None or self._scheduler.depth == 0)

    def language_for(self, requested: str) -> str:
        return requested if self.multilingual else "en"

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        return self.decoder.detect_language(samples)

    def _ensure_dispatchers(self) -> FairScheduler:
        # Created lazily so that one engine can serve whichever event loop runs the sessions.
        if self._scheduler is None or not self._dispatchers or self._dispatchers[0].get_loop() is not asyncio.get_running_loop():
            self._scheduler = FairScheduler(self.settings.max_queue)
            self._dispatchers = [
                asyncio.ensure_future(self._dispatch(self._scheduler)) for _ in range(self.settings.num_workers)
            ]
        return self._scheduler

    async def transcribe(
        self, samples: np.ndarray, language: str, prompt: str | None = None, *,
        stream_id: str = "default", kind: Kind = "final", on_draft: Callable[[str], None] | None = None,
        careful: bool = False, context: Context | None = None,
    ) -> Outcome:
        """`on_draft(text)` runs on the event loop with a suspicious first pass's text before the
        careful re-decode (see decoder.Job); `careful`: decode the careful way outright; `context`:
        the speaker's previous utterance, used unless the load policy drops it."""
        scheduler = self._ensure_dispatchers()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        draft = None if on_draft is None else (lambda text: loop.call_soon_threadsafe(on_draft, text))
        job = Job(samples, self.language_for(language), prompt, draft, careful, partial=kind == "partial",
                  context=context)
        submitted = time.monotonic()
        try:
            scheduler.submit(Request(stream_id, kind, job, future, submitted))
        except QueueFull:
            metrics.queue_overflow(kind)
            log.warning("asr_queue_overflow", stream_id=stream_id, kind=kind, audio_s=round(audio_seconds(samples), 2),
                        depth=scheduler.depth)
            raise
        metrics.queue_depth(scheduler.depth)
        outcome = await future
        metrics.transcribed(kind, time.monotonic() - submitted)
        if outcome.dropped:
            self.dropped[outcome.dropped] = self.dropped.get(outcome.dropped, 0) + 1
            log.info("asr_output_dropped", reason=outcome.dropped, kind=kind, audio_s=round(audio_seconds(samples), 2))
        return outcome

    async def _dispatch(self, scheduler: FairScheduler) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await scheduler.next_batch(self.settings.max_batch)
            metrics.queue_depth(scheduler.depth)
            live = [r for r in batch if not r.future.cancelled()]
            if not live:
                continue
            finals = sum(1 for r in live if r.kind != "partial")
            decoding = self.load.for_finals(finals, scheduler.waiting("final"), self._busy_workers) \
                if finals else FinalsDecoding(1, context=False)  # partials: greedy
            jobs = [r.job if decoding.context else replace(r.job, context=None) for r in live]
            self.load.heard_in_context(sum(job.context is not None for job in jobs))
            started = time.perf_counter()
            self._busy_workers += 1
            try:
                outcomes = await loop.run_in_executor(self._pool, self.decoder.decode, jobs, decoding.beam_size)
            except Exception as exc:  # noqa: BLE001 - fail these utterances, keep the engine
                for request in live:
                    if not request.future.done():
                        request.future.set_exception(exc)
                continue
            finally:
                self._busy_workers -= 1
            self._account(live, time.perf_counter() - started)
            for request, outcome in zip(live, outcomes, strict=True):
                if not request.future.done():
                    request.future.set_result(outcome)

    def _account(self, batch: list[Request], seconds: float) -> None:
        audio = [audio_seconds(r.job.samples) for r in batch]
        total = sum(audio) or 1.0
        for request, share in zip(batch, audio, strict=True):
            self.compute_s[request.kind] = self.compute_s.get(request.kind, 0.0) + seconds * share / total

    def cancel_stream(self, stream_id: str) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel_stream(stream_id)

    def close(self) -> None:
        for task in self._dispatchers:
            task.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        """close(), then wait until the cancelled dispatchers have unwound, so that nothing of this
        engine is left on the event loop (close() alone leaves them 'cancelling' for a turn)."""
        dispatchers = [t for t in self._dispatchers if t.get_loop() is asyncio.get_running_loop()]
        self.close()
        await asyncio.gather(*dispatchers, return_exceptions=True)
