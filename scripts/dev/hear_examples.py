"""Write what the recognizer makes of the spoken examples: the heard versions the objection head
also learns from (bot/data/announcements/examples/heard/<lang>.toml; bot/consent/heard.py).

In a call the detector reads Whisper's text, not what was said: on the espeak-ng voices, Italian
"interrompa la trascrizione" comes back as "intercompa la trascrizione" and the head, trained on
clean text only, misses it. This speaks every objection example of at most 12 words and a seeded
sample of the other examples with the language's voice and decodes each as a call decodes a final
(the same engine, settings and recognizer prompt; text the confidence filters would drop included,
because the detector still reads it). Only labelled *examples* are spoken, never the blind set.

    .venv/bin/python scripts/dev/hear_examples.py [OTHERS_PER_LANGUAGE]   # default 300, seed 11

Deterministic for a given model, settings and espeak-ng version; rerun it after changing the
examples, the voices or the recognizer prompt (a heard version whose example is gone is ignored),
then `sessionbot models provision` to train the head again.

Recorded again 2026-12-07 22:23 (base, beam 5, 2 cores, beside other jobs), after the sixth
development set joined the examples: 3,637 pairs in 1,310 s. The recording before it (19:03, before
the sixth set) gave 3,475 pairs in 1,205 s; the first that day 3,239; the one before was at beam 1,
when finals were greedy. What that is worth: `sessionbot bench
consent`, examples_cross_validated.heard_versions, and docs/consent.md.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path

from bot.audio.pcm import ASR_RATE, resample_pcm
from bot.audio.tts import render_speech_async
from bot.config import load_settings
from bot.consent.announcements import load_announcements
from bot.consent.heard import MAX_WORDS, heard_dir, write_heard
from bot.consent.semantic import example_files, load_examples
from bot.transcribe.engine import TranscriptionEngine

SEED = 11
AT_ONCE = 8  # utterances in flight: lets the engine batch them


async def hear(engine: TranscriptionEngine, texts: list[str], voice: str, wpm: int, language: str,
               prompt: str | None) -> list[str]:
    async def one(text: str) -> str:
        samples, rate = await render_speech_async(text, voice, wpm)
        outcome = await engine.transcribe(resample_pcm(samples, rate, ASR_RATE), language, prompt,
                                          stream_id=text, kind="final")
        if outcome.recognized is not None:
            return outcome.recognized.text.strip()
        return (outcome.unsure_text or "").strip()

    heard: list[str] = []
    for start in range(0, len(texts), AT_ONCE):
        heard += await asyncio.gather(*(one(t) for t in texts[start:start + AT_ONCE]))
        print(f"{language}: {len(heard)}/{len(texts)} heard", flush=True)
    return heard


async def main(others_per_language: int) -> None:
    settings = load_settings(None)
    announcements_dir = settings.paths.announcements_dir
    engine = TranscriptionEngine(settings.transcription, settings.paths.cache_dir)
    started = time.monotonic()
    for path in example_files(announcements_dir):
        language = path.stem
        announcements = load_announcements(announcements_dir, language)
        objections, others = load_examples(path)
        sayable_objections = [t for t in objections if len(t.split()) <= MAX_WORDS]
        sayable_others = [t for t in others if len(t.split()) <= MAX_WORDS]
        picked_others = random.Random(f"{SEED}:{language}").sample(
            sayable_others, min(others_per_language, len(sayable_others)))
        prompt = announcements.asr_prompt if settings.transcription.consent_prompt else None
        # A quiet call decodes its finals with the configured beam; eight in flight here would make
        # the load policy fall back to greedy, so the beam is pinned.
        with engine.load.pinned(settings.transcription.beam_size):
            heard_objections = await hear(engine, sayable_objections, announcements.voice,
                                          announcements.words_per_minute, language, prompt)
            heard_others = await hear(engine, picked_others, announcements.voice,
                                      announcements.words_per_minute, language, prompt)
        write_heard(heard_dir(announcements_dir) / f"{language}.toml", language, settings.transcription.model,
                    settings.transcription.beam_size,
                    list(zip(sayable_objections, heard_objections)), list(zip(picked_others, heard_others)))
    await engine.aclose()
    print(f"done in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
