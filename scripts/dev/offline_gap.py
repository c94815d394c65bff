"""Streaming finals against offline decoding, on more words than the shared recordings hold (issue 16).

Development measurement, not a test. The shared multilingual set has two sentences per language, so
one word moves a language's word error rate by 6-10 points. This renders ordinary sentences (the
labelled examples' non-objections, 5-16 words, never the blind set) with each language's espeak-ng
voice and scores, on every sentence:

- streaming: each sentence decoded by the project's decoder the way a call's final is when the
  decoders are idle (after as many previous sentences as fit in transcription.context_s, at most
  recent.MAX_UTTERANCES; recognizer prompt), at beam 1 and at beam 5;
- offline: faster-whisper on the whole recording (sentences 1 s apart, beam 5, its own VAD).

    .venv/bin/python scripts/dev/offline_gap.py [SENTENCES] [LANGUAGES]   # default 30 en,es,de,it,fr,pt; seed 7

Recorded 2026-12-07 (defaults, 2 cores, 247-287 words per language, 1,624 in all), WER:

    language   offline beam 5   streaming beam 1   streaming beam 5
    en          6.6 %             8.0 %              7.0 %
    es         18.5 %            29.8 %             21.5 %
    de         28.5 %            39.1 %             31.0 %
    it         33.6 %            42.1 %             36.0 %
    fr         46.9 %            58.7 %             49.0 %
    pt         56.1 %            62.5 %             50.2 %
    pooled     31.6 %            39.9 %             32.3 %
"""

from __future__ import annotations

import random
import sys

import numpy as np
from context_wer import heard_in_turn

from bot.audio.pcm import ASR_RATE, resample_pcm
from bot.audio.tts import render_speech
from bot.bench.asr_wer import offline_text
from bot.config import load_settings
from bot.consent.announcements import load_announcements
from bot.consent.semantic import examples_dir, load_examples
from bot.transcribe.engine import TranscriptionEngine
from bot.transcribe.recent import MAX_UTTERANCES
from bot.wer import word_error_rate

OFFLINE_BEAM = 5
PAUSE = np.zeros(ASR_RATE, dtype=np.int16)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    languages = sys.argv[2].split(",") if len(sys.argv) > 2 else ["en", "es", "de", "it", "fr", "pt"]
    settings = load_settings(None, {"logging.level": "warning"})
    engine = TranscriptionEngine(settings.transcription, settings.paths.cache_dir)
    chooser = random.Random(7)
    totals: dict[str, float] = {}
    for language in languages:
        voice = load_announcements(settings.paths.announcements_dir, language)
        _, ordinary = load_examples(examples_dir(settings.paths.announcements_dir) / f"{language}.toml")
        sentences = chooser.sample([t for t in ordinary if 5 <= len(t.split()) <= 16], count)
        clips = [resample_pcm(*render_speech(t, voice.voice, voice.words_per_minute), ASR_RATE) for t in sentences]
        reference = " ".join(sentences)
        recording = np.concatenate([part for clip in clips for part in (PAUSE, clip)] + [PAUSE])
        offline = offline_text(engine, recording, language, OFFLINE_BEAM)
        row = {"offline beam 5": word_error_rate(reference, offline, language)}
        for beam in (1, 5):
            heard = heard_in_turn(engine.decoder, clips, language, voice.asr_prompt, beam,
                                  settings.transcription.context_s, MAX_UTTERANCES)
            row[f"streaming beam {beam}"] = word_error_rate(reference, " ".join(heard), language)
        words = len(reference.split())
        totals["words"] = totals.get("words", 0) + words
        for name, rate in row.items():
            totals[name] = totals.get(name, 0.0) + rate * words
        print(f"{language} ({words} words): " + ", ".join(f"{k} {v:.1%}" for k, v in row.items()), flush=True)
    print("pooled: " + ", ".join(f"{k} {v / totals['words']:.1%}" for k, v in totals.items() if k != "words"))


if __name__ == "__main__":
    main()
