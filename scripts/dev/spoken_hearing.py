"""How much of spoken objection recall is lost to hearing, per way of decoding finals (issue 17 item 4).

Development measurement, not a test: it speaks example objections (the labelled examples in
bot/data/announcements/examples/, never the blind set) with each language's espeak-ng voice, runs
them through `check-objection --audio`'s pipeline, and reports recall, how many came back with no
text, and the word error rate of what was heard. The detector is trained on these examples, so
typed it finds them all: what is lost here is lost to the recognizer.

    .venv/bin/python scripts/dev/spoken_hearing.py [ITEMS_PER_LANGUAGE]   # default 20, seed 3

Recorded 2026-12-06 (20 per language, 2 cores; the default beam was 1 then):
recall beam 1 / beam 5 / beam 5 with 8 s padding: en 85/95/85 %, es 70/65/65 %, de 55/60/60 %,
fr 0/0/10 %, it 45/65/60 %, pt 30/45/40 %; empty texts 13 / 6 / 8 of 120. French espeak-ng is
unintelligible to Whisper base however it is decoded (offline faster-whisper at beam 5, on six of
those sentences: WER 0.84; streaming here, 0.96).

It speaks objections only, so it cannot see false stops: beam 5, better here, stopped falsely on
more of the blind set's other sentences (`bench consent`, docs/transcription.md), and finals stay
greedy. Measure both sides before changing how finals are decoded.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time

from bot.audio.tts import render_speech
from bot.config import load_settings
from bot.consent.announcements import load_announcements
from bot.consent.check import check_audio
from bot.consent.guard import ConsentGuard
from bot.consent.objection import normalize
from bot.consent.semantic import examples_dir, load_examples
from bot.transcribe.engine import TranscriptionEngine
from bot.wer import word_error_rate

LANGUAGES = ["en", "es", "de", "fr", "it", "pt"]
VARIANTS = {
    "beam 1": {"beam_size": 1},
    "beam 5": {"beam_size": 5},
    "beam 5, 8 s padding": {"beam_size": 5, "window_padding_s": 8.0},
}


async def main(per_language: int) -> None:
    settings = load_settings(None)
    sampler = random.Random(3)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for language in LANGUAGES:
        objections, _ = load_examples(examples_dir(settings.paths.announcements_dir) / f"{language}.toml")
        items = sampler.sample([t for t in objections if 2 <= len(normalize(t).split()) <= 12], per_language)
        voice = load_announcements(settings.paths.announcements_dir, language)
        audio = [render_speech(text, voice.voice, voice.words_per_minute) for text in items]
        for name, update in VARIANTS.items():
            variant = settings.model_copy(update={"transcription": settings.transcription.model_copy(update=update)})
            engine = TranscriptionEngine(variant.transcription, variant.paths.cache_dir)
            guard = ConsentGuard(variant.consent, variant.paths.announcements_dir, language)
            guard.warm()
            caught = empty = 0
            errors = 0.0
            started = time.monotonic()
            with engine.load.pinned(variant.transcription.beam_size):  # the beam under test, whatever is busy
                for text, (samples, rate) in zip(items, audio, strict=True):
                    result = await check_audio(guard, engine, variant, samples, rate)
                    caught += result.objection
                    empty += not result.heard.strip()
                    errors += word_error_rate(text, result.heard, language)
            await engine.aclose()
            row = {"recall": caught / len(items), "empty": empty, "wer": round(errors / len(items), 3),
                   "seconds": round(time.monotonic() - started, 1)}
            results.setdefault(language, {})[name] = row
            print(language, name, row, flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
