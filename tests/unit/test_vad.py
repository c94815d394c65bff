from __future__ import annotations

import numpy as np

from bot.audio.pcm import ASR_RATE, resample_pcm
from bot.audio.tts import render_speech
from bot.audio.vad import PRE_ROLL_MS, VadSegmenter
from bot.config import VadSettings


def speech(text: str) -> np.ndarray:
    samples, rate = render_speech(text, "en-us", 160)
    return resample_pcm(samples, rate, ASR_RATE)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * ASR_RATE), dtype=np.int16)


def feed(segmenter: VadSegmenter, audio: np.ndarray, chunk: int = 320):
    closed = []
    for start in range(0, audio.size, chunk):  # 20 ms pieces, as WebRTC delivers them
        closed += [u for u in segmenter.push(audio[start : start + chunk]) if not u.provisional]
    last = segmenter.flush()
    return closed + ([last] if last else [])


def test_two_utterances_separated_by_a_pause_are_two_segments_at_the_right_times() -> None:
    first, second = speech("How have you been sleeping?"), speech("Better than before, thank you.")
    audio = np.concatenate([silence(1.0), first, silence(1.5), second, silence(1.0)])
    utterances = feed(VadSegmenter(VadSettings()), audio)
    assert len(utterances) == 2
    assert abs(utterances[0].start_s - 1.0) < 0.35
    second_start = 1.0 + first.size / ASR_RATE + 1.5
    assert abs(utterances[1].start_s - second_start) < 0.35
    assert all(not u.cut for u in utterances)


def test_silence_and_low_noise_yield_nothing() -> None:
    rng = np.random.default_rng(7)
    noise = (rng.normal(0, 30, 10 * ASR_RATE)).astype(np.int16)  # about -60 dBFS hiss
    assert feed(VadSegmenter(VadSettings()), np.concatenate([silence(5), noise])) == []


def test_a_long_monologue_is_cut_at_max_utterance() -> None:
    long_speech = np.concatenate([speech("This is a long sentence that keeps going and going without a pause.")] * 3)
    settings = VadSettings(max_utterance_s=4.0, hangover_ms=300)
    utterances = feed(VadSegmenter(settings), long_speech)
    assert len(utterances) >= 2
    assert any(u.cut for u in utterances)
    assert all(u.end_s - u.start_s <= 4.0 + 0.05 for u in utterances)


def test_speech_still_going_when_the_stream_ends_is_a_cut_utterance() -> None:
    segmenter = VadSegmenter(VadSettings())
    segmenter.push(np.concatenate([silence(0.5), speech("I was going to say that the week was")]))
    last = segmenter.flush()
    assert last is not None and last.cut


def test_the_pre_roll_puts_an_utterance_at_most_one_frame_before_its_first_word() -> None:
    """What admission relies on (bot/consent/admission.py): speech began no earlier than an utterance's
    start plus PRE_ROLL_S, give or take the frame in which the VAD first heard it. Calls in the
    consent tests speak two frames after admission (tests/integration/test_consent_invariants.py)."""
    settings = VadSettings()
    frame_s = settings.frame_ms / 1000
    words = speech("My sister visited on Sunday and we cooked pancakes together.")
    leads = []
    for lead_ms in range(500, 500 + settings.frame_ms, 3):  # every position against the frame grid
        onset_s = lead_ms / 1000
        [first, *_] = feed(VadSegmenter(settings), np.concatenate([silence(onset_s), words, silence(1.0)]))
        leads.append(onset_s - (first.start_s + PRE_ROLL_MS / 1000))
    assert max(leads) <= frame_s  # never more than a frame early
    assert min(leads) > -0.1  # nor late by more than espeak-ng's soft first consonant
    assert max(leads) > 0  # the frame grid does make it early: admission has to allow for it
