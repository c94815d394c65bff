"""How much context a final needs: word errors by context budget and beam (issue 16).

Development measurement, not a test. It renders ordinary sentences (the labelled examples'
non-objections, 5-16 words, never the blind set) with each language's espeak-ng voice and decodes
each one with the project's decoder, after nothing, after the previous sentence only, or after as
many previous sentences as fit with it in a budget. `context_for` below is a copy of
bot/transcribe/recent.py's rule rather than a call to it, because it also measures variants the
product does not offer (no budget, one sentence); unlike the product, a sentence heard as nothing
still counts against the budget here. Each
sentence's context text is what the same variant heard before, as in a call. The first and last
sentences are not scored, so every variant is scored on the same words.

    .venv/bin/python scripts/dev/context_wer.py [SENTENCES] [LANGUAGES]   # default 40 en,es,de,it; seed 5

Recorded 2026-12-06 (`context_wer.py 40 en,es,de,it`, 312-370 scored words per language, 2 cores), WER:

    beam 5   alone    previous only   fit 10 s   fit 15 s
    en       13.2 %    9.9 %           8.5 %      8.8 %
    es       40.9 %   25.5 %          23.3 %     21.5 %
    de       31.1 %   25.7 %          25.4 %     21.4 %
    it       42.9 %   30.8 %          28.5 %     27.6 %
    beam 1
    en       17.9 %   11.0 %          10.4 %     10.4 %
    es       41.5 %   35.5 %          33.0 %     30.9 %
    de       33.5 %   29.7 %          30.3 %     27.8 %
    it       48.7 %   42.0 %          40.4 %     36.5 %

(The languages after the first draw their sentences after it from the same generator, so a run
with other languages scores other sentences.)
"""

from __future__ import annotations

import random
import sys

import numpy as np

from bot.audio.pcm import ASR_RATE, resample_pcm
from bot.audio.tts import render_speech
from bot.config import load_settings
from bot.consent.announcements import load_announcements
from bot.consent.semantic import examples_dir, load_examples
from bot.transcribe.decoder import CONTEXT_GAP_S, Context, Job, WhisperDecoder
from bot.transcribe.engine import TranscriptionEngine
from bot.wer import word_error_rate

# (name, budget in seconds for context and sentence together or None for none, most previous sentences)
VARIANTS = [("alone", 0, 0), ("previous only", None, 1), ("fit 10 s", 10.0, 3), ("fit 15 s", 15.0, 3)]
BEAMS = [5, 1]


def context_for(index: int, clips: list[np.ndarray], heard: list[str], budget_s: float | None,
                most: int) -> Context | None:
    gap = int(CONTEXT_GAP_S * ASR_RATE)
    length, picked = clips[index].size, []
    for previous in range(index - 1, max(-1, index - most - 1), -1):
        length += gap + clips[previous].size
        if budget_s is not None and length > budget_s * ASR_RATE:
            break
        picked.insert(0, previous)
    picked = [p for p in picked if heard[p]]
    return Context.joined([Context(clips[p], heard[p]) for p in picked]) if picked else None


def heard_in_turn(decoder: WhisperDecoder, clips: list[np.ndarray], language: str, prompt: str | None,
                  beam: int, budget_s: float | None, most: int) -> list[str]:
    heard: list[str] = []
    for index, clip in enumerate(clips):
        context = context_for(index, clips, heard, budget_s, most) if most else None
        [outcome] = decoder.decode([Job(clip, language, prompt, context=context)], beam)
        heard.append(outcome.recognized.text if outcome.recognized else "")
    return heard


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    languages = sys.argv[2].split(",") if len(sys.argv) > 2 else ["en", "es", "de", "it"]
    settings = load_settings(None, {"logging.level": "warning"})
    decoder = TranscriptionEngine(settings.transcription, settings.paths.cache_dir).decoder
    chooser = random.Random(5)
    for language in languages:
        voice = load_announcements(settings.paths.announcements_dir, language)
        _, ordinary = load_examples(examples_dir(settings.paths.announcements_dir) / f"{language}.toml")
        sentences = chooser.sample([t for t in ordinary if 5 <= len(t.split()) <= 16], count)
        clips = [resample_pcm(*render_speech(t, voice.voice, voice.words_per_minute), ASR_RATE) for t in sentences]
        reference = " ".join(sentences[1:-1])
        for beam in BEAMS:
            row = {}
            for name, budget_s, most in VARIANTS:
                heard = heard_in_turn(decoder, clips, language, voice.asr_prompt, beam, budget_s, most)
                row[name] = f"{word_error_rate(reference, ' '.join(heard[1:-1]), language):.1%}"
            print(f"{language} beam {beam} ({len(reference.split())} words): {row}", flush=True)


if __name__ == "__main__":
    main()
