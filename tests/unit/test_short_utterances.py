"""A burst under the VAD minimum is dropped for the transcript but kept, marked short, for the
objection check (issue 17 item 1): short sentences are exactly how people object."""

from __future__ import annotations

import numpy as np

from bot.audio.pcm import ASR_RATE, resample_pcm
from bot.audio.tts import render_speech
from bot.audio.vad import VadSegmenter
from bot.config import VadSettings


def feed(segmenter: VadSegmenter, audio: np.ndarray, chunk: int = 320) -> list:
    closed = []
    for start in range(0, audio.size, chunk):
        closed += [u for u in segmenter.push(audio[start : start + chunk]) if not u.provisional]
    last = segmenter.flush()
    return closed + ([last] if last else [])


def spoken_stop() -> np.ndarray:
    samples, rate = render_speech("Stop.", "en-us", 160)
    silence = np.zeros(ASR_RATE, dtype=np.int16)
    return np.concatenate([silence, resample_pcm(samples, rate, ASR_RATE), silence])


def test_a_short_word_under_the_minimum_is_dropped_without_keep_short() -> None:
    settings = VadSettings(min_speech_ms=3000)  # far longer than "Stop."
    assert feed(VadSegmenter(settings), spoken_stop()) == []


def test_a_short_word_under_the_minimum_comes_back_marked_short_for_the_check() -> None:
    settings = VadSettings(min_speech_ms=3000)
    utterances = feed(VadSegmenter(settings, keep_short=True), spoken_stop())
    assert len(utterances) == 1
    assert utterances[0].short
    assert 0.6 < utterances[0].start_s < 1.2  # the VAD keeps a pre-roll before speech


def test_an_utterance_over_the_minimum_is_not_marked_short() -> None:
    utterances = feed(VadSegmenter(VadSettings(min_speech_ms=100), keep_short=True), spoken_stop())
    assert [u.short for u in utterances] == [False]
