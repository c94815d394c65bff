"""Speech synthesis with espeak-ng, rendered straight into memory.

Used for the bot's own announcements and for the demo's simulated people.
`espeak-ng --stdout` writes the WAV to a pipe, so no audio touches the disk.
Renderings are cached in memory: the same announcement is spoken in every
session and to every late joiner.

(pyttsx3 2.99's espeak driver cannot replace this: in a fresh process it writes no file at all
for our full English announcement -- reproduced by tests/unit/test_pyttsx3_espeak.py, a strict
xfail -- and it has no in-memory output. See docs/deployment.md, "Speech synthesis engines".)
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from functools import lru_cache

import numpy as np

from bot.audio.pcm import wav_bytes_to_pcm

RENDER_TIMEOUT_S = 30.0


class SpeechRenderError(Exception):
    pass


def _espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise SpeechRenderError("espeak-ng is not installed. Fix: `apt-get install espeak-ng` (or run `make setup`).")
    return path


@lru_cache(maxsize=64)
def _render_cached(text: str, voice: str, words_per_minute: int, pitch: int) -> tuple[bytes, int]:
    # "--" ends the options, so text starting with "-" is never read as one.
    command = [_espeak(), "--stdout", "-v", voice, "-s", str(words_per_minute), "-p", str(pitch), "--", text]
    try:
        done = subprocess.run(command, capture_output=True, timeout=RENDER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise SpeechRenderError(f"espeak-ng took longer than {RENDER_TIMEOUT_S:.0f} s") from None
    if done.returncode != 0 or len(done.stdout) < 1000:
        message = done.stderr.decode(errors="replace").strip()[:200]
        raise SpeechRenderError(
            f"espeak-ng rendered no audio for voice {voice!r} ({message or 'no output'}). "
            "Fix: choose a voice listed by `espeak-ng --voices`."
        )
    samples, rate = wav_bytes_to_pcm(done.stdout)
    return samples.tobytes(), rate


def render_speech(text: str, voice: str, words_per_minute: int = 160, pitch: int = 50) -> tuple[np.ndarray, int]:
    """Int16 mono samples and their rate (22.05 kHz for espeak-ng)."""
    data, rate = _render_cached(text, voice, words_per_minute, pitch)
    return np.frombuffer(data, dtype=np.int16), rate


async def render_speech_async(
    text: str, voice: str, words_per_minute: int = 160, pitch: int = 50
) -> tuple[np.ndarray, int]:
    return await asyncio.to_thread(render_speech, text, voice, words_per_minute, pitch)
