"""Primed Whisper must not put the prompt in a participant's mouth: noise and unrelated real
speech through the real engine (Whisper base, the multilingual model of non-English sessions)
never come back as the language's asr_prompt, and nothing they produce is an objection."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.requirements import require

from bot.audio.pcm import ASR_RATE, read_wav, resample_pcm
from bot.config import DEFAULT_ANNOUNCEMENTS_DIR, load_settings
from bot.consent.guard import ConsentGuard
from bot.transcribe.decoder import Outcome, is_prompt_echo, prompt_overlap
from bot.transcribe.engine import TranscriptionEngine
from bot.transcribe.segment import Participant
from tests.conftest import data_dir

pytestmark = pytest.mark.slow

LANGUAGES = ("en", "es", "de", "fr", "it", "pt")
# (seed, colour, level as a fraction of full scale, seconds): quiet to loud, 1-3 s.
NOISES = ((1, "white", 0.003, 1.0), (2, "pink", 0.02, 2.0), (3, "white", 0.1, 3.0))
# Speech in another language, decoded as the session's: the unclear case where echoes appeared.
PARTICIPANT = Participant("p", "participant", "client")
OTHER = {"en": "it_norm", "es": "de", "de": "pt_norm", "fr": "en", "it": "es", "pt": "fr_norm"}


def noise(seed: int, colour: str, level: float, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * ASR_RATE)
    signal = rng.standard_normal(n)
    if colour == "pink":  # 1/f power
        spectrum = np.fft.rfft(signal)
        spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
        signal = np.fft.irfft(spectrum, n)
        signal /= signal.std()
    silence = np.zeros(ASR_RATE // 2)
    return (np.concatenate([silence, signal * level * 32767, silence]).clip(-32767, 32767)).astype(np.int16)


@pytest.fixture(scope="module")
def speech_multilingual() -> Path:
    path = data_dir() / "speech-multilingual"
    require("data", (path / "transcripts.tsv").is_file(),
            f"multilingual speech not found at {path}; set SESSIONBOT_DATA_DIR to the shared data directory")
    return path


@pytest.fixture(scope="module")
def base_engine() -> Iterator[TranscriptionEngine]:
    settings = load_settings(None, {"transcription.model": "base",
                                    "transcription.cpu_threads": min(2, os.cpu_count() or 1)})
    engine = TranscriptionEngine(settings.transcription, settings.paths.cache_dir)
    yield engine
    engine.close()


def clip(directory: Path, name: str) -> np.ndarray:
    samples, rate = read_wav(str(directory / f"test_{name}.wav"))
    return resample_pcm(samples, rate, ASR_RATE)


def texts(outcome: Outcome) -> list[tuple[str, bool]]:
    """Everything the engine passes on: (text, complete) as the ConsentGuard gets it."""
    found = []
    if outcome.recognized is not None:
        found.append((outcome.recognized.text, True))
    if outcome.unsure_text:
        found.append((outcome.unsure_text, False))
    return found


@pytest.mark.parametrize("language", LANGUAGES)
async def test_noise_and_unrelated_speech_never_come_back_as_the_prompt(
    language: str, base_engine: TranscriptionEngine, speech_multilingual: Path
) -> None:
    guard = ConsentGuard(load_settings(None, {}).consent, DEFAULT_ANNOUNCEMENTS_DIR, language)
    guard.warm()
    prompt = guard.asr_prompt
    assert prompt
    own = [(f"speech {language}", clip(speech_multilingual, language)),
           (f"speech {language}_norm", clip(speech_multilingual, f"{language}_norm"))]
    cases = [(f"{c} noise {lvl}", noise(seed, c, lvl, s)) for seed, c, lvl, s in NOISES] + own
    other = (f"speech {OTHER[language]}", clip(speech_multilingual, OTHER[language]))
    reasons, overlaps = [], []
    for name, samples in [*cases, other]:
        started = time.perf_counter()
        outcome = await base_engine.transcribe(samples, language, prompt, stream_id=name)
        reasons.append((outcome.dropped, round(time.perf_counter() - started, 1)))
        for text, complete in texts(outcome):
            # The decoder's echo measure, which keeps a text with a word of its own (a partial echo
            # such as "Die Therapeutin arbeitet mit einem Komponenten." does come back; see decoder.py).
            assert not is_prompt_echo(text, prompt), f"{language}, {name}: the prompt came back"
            overlaps.append(round(prompt_overlap(text, prompt), 2))
            event = guard.on_speech(PARTICIPANT, text, language, complete=complete)
            assert event is None, f"{language}, {name}: heard as an objection ({event.rule if event else ''})"
    print(language, "dropped, seconds:", reasons, "prompt overlap of what came back:", overlaps)
