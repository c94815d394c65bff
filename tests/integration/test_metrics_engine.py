"""The engine and the stream report into /metrics while transcribing real speech; the
exposition holds timings and counts, never a word that was said."""

from __future__ import annotations

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import metrics
from bot.audio.pcm import load_audio
from bot.config import load_settings
from bot.transcribe.file import transcribe_pcm

pytestmark = pytest.mark.slow


def _count(name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


async def test_transcribing_speech_fills_latency_histograms_and_no_words_reach_metrics(engine, speech_dir) -> None:
    settings = load_settings(None, {"transcription.model": "tiny.en"})
    def decoded_as_finals() -> float:  # an early final decoded during the hang-over is a final too
        return sum(_count("sessionbot_transcription_seconds_count", kind=kind) for kind in ("final", "early"))

    before_final = decoded_as_finals()
    before_speech = _count("sessionbot_speech_to_text_seconds_count")
    exposition_before = metrics.render().decode().lower()
    audio = load_audio(speech_dir / "LJ001-0002.wav")
    result = await transcribe_pcm(engine, settings, audio, "en")
    finals = len(result.segments)
    assert finals >= 1
    assert decoded_as_finals() - before_final >= finals
    assert _count("sessionbot_speech_to_text_seconds_count") - before_speech == finals
    assert _count("sessionbot_transcription_queue_depth") == 0  # drained
    exposition = metrics.render().decode().lower()
    words = {w for s in result.segments for w in re.findall(r"[a-z]{5,}", s["text"].lower())}
    words -= {w for w in words if w in exposition_before}  # words of the metric names and help texts
    assert words and not [w for w in words if w in exposition]
