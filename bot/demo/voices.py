"""Speech for the simulated participants, rendered by espeak-ng straight into memory.

The simulated people are not the bot: their speech is produced with the
espeak-ng command (`--stdout`), so nothing of it ever touches the disk.
"""

from __future__ import annotations

import asyncio

import numpy as np

from bot.audio.pcm import wav_bytes_to_pcm
from bot.demo.script import Voice


class VoiceRenderError(Exception):
    pass


async def speak_to_memory(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    process = await asyncio.create_subprocess_exec(
        "espeak-ng", "--stdout", "-v", voice.espeak_voice, "-s", str(voice.words_per_minute),
        "-p", str(voice.pitch), text,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0 or not out:
        raise VoiceRenderError(f"espeak-ng failed for voice {voice.espeak_voice!r}: {err.decode(errors='replace')[:200]}")
    return wav_bytes_to_pcm(out)
