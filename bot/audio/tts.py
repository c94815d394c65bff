"""The bot's own voice: announcements rendered with pyttsx3 (driving espeak-ng).

Rendering is cached on disk per (text, voice, rate), because the same
announcement is spoken in every session. These files hold only the bot's own
synthesized announcements, never anything a participant said.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import threading
from pathlib import Path

import numpy as np

from bot.audio.pcm import read_wav
from bot.files import ensure_private_dir
from bot.log import get_logger

log = get_logger(__name__)

ANNOUNCEMENT_CACHE_SUBDIR = "announcements"
_engine_lock = threading.Lock()


class SpeechRenderError(Exception):
    pass


def announcement_cache_key(text: str, voice: str, words_per_minute: int) -> str:
    return hashlib.sha256(f"pyttsx3-espeak|{voice}|{words_per_minute}|{text}".encode()).hexdigest()[:32]


def _render_with_pyttsx3(text: str, voice: str, words_per_minute: int, path: Path) -> None:
    import pyttsx3

    with _engine_lock:
        try:
            engine = pyttsx3.init("espeak")
        except (RuntimeError, OSError) as exc:
            raise SpeechRenderError(
                f"espeak-ng is not usable ({exc}). Fix: install it with `apt-get install espeak-ng`."
            ) from exc
        voices = {v.id: v for v in engine.getProperty("voices")}
        if voice not in voices:
            raise SpeechRenderError(
                f"espeak-ng has no voice {voice!r}. Fix: choose one listed by `espeak-ng --voices`."
            )
        engine.setProperty("voice", voice)
        engine.setProperty("rate", words_per_minute)
        # pyttsx3 prints "Audio saved to …" on stdout; the console is not its to use.
        with contextlib.redirect_stdout(io.StringIO()):
            engine.save_to_file(text, str(path))
            engine.runAndWait()
    if not path.is_file() or path.stat().st_size < 1000:
        raise SpeechRenderError(f"espeak-ng rendered no audio for voice {voice!r}.")


class AnnouncementVoice:
    """Renders announcement text to int16 mono PCM, caching the result by content."""

    def __init__(self, cache_dir: Path) -> None:
        self.directory = cache_dir / ANNOUNCEMENT_CACHE_SUBDIR

    def path_for(self, text: str, voice: str, words_per_minute: int) -> Path:
        return self.directory / f"{announcement_cache_key(text, voice, words_per_minute)}.wav"

    def render(self, text: str, voice: str, words_per_minute: int = 165) -> tuple[np.ndarray, int]:
        path = self.path_for(text, voice, words_per_minute)
        if not path.is_file():
            ensure_private_dir(self.directory)
            partial = path.with_suffix(f".partial-{os.getpid()}.wav")
            try:
                _render_with_pyttsx3(text, voice, words_per_minute, partial)
                os.chmod(partial, 0o600)
                os.replace(partial, path)
            finally:
                partial.unlink(missing_ok=True)
            log.info("announcement_rendered", voice=voice, cache_key=path.stem)
        return read_wav(str(path))

    async def render_async(self, text: str, voice: str, words_per_minute: int = 165) -> tuple[np.ndarray, int]:
        return await asyncio.to_thread(self.render, text, voice, words_per_minute)
