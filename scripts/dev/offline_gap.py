"""Streaming finals against offline decoding, on more words than the shared recordings hold (issue 16).

Development measurement, not a test. The shared multilingual set has two sentences per language, so
one word moves a language's word error rate by 6-10 points. This renders ordinary sentences (the
labelled examples' non-objections, 5-16 words, never the blind set) with each language's espeak-ng
voice and scores, on every sentence:

- streaming: each sentence decoded by the project's decoder the way a call's final is when the
  decoders are idle (after as many previous sentences as fit in transcription.context_s, at most
  recent.MAX_UTTERANCES; recognizer prompt), at beam 1 and at beam 5, and at beam 5 without the
  recognizer prompt and with Whisper's full 30 s window (transcription.window_padding_s = 30);
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

The examples grew after that, so the same seed now draws other sentences. Recorded again 2026-12-07
23:45 (defaults, 2 cores, 259-319 words per language, 1,734 in all, after the seventh development set
joined the examples), WER:

    language   offline b5   streaming b1   streaming b5   b5 without prompt   b5, 30 s window
    en          5.4 %         9.6 %          8.9 %          7.9 %               7.5 %
    es         24.8 %        33.6 %         25.8 %         26.2 %              26.5 %
    de         23.2 %        36.4 %         28.5 %         27.0 %              28.5 %
    it         30.5 %        49.0 %         42.1 %         43.6 %              39.0 %
    fr         44.8 %        59.4 %         47.2 %         54.9 %              48.3 %
    pt         43.5 %        53.3 %         42.5 %         44.6 %              39.6 %
    pooled     28.7 %        40.1 %         32.4 %         33.8 %              31.5 %

So on these sentences streaming at beam 5 makes 1.13x offline's errors pooled (0.98x in Portuguese to
1.65x in English); the prompt is worth 1.4 points pooled (more in French, less than nothing in
English and German), and Whisper's full window 0.9 points, for the cost the utterance-sized window saves (decoding 3.5x
faster on LJ Speech: bot/transcribe/decoder.py).
The rest of the gap is what offline decoding has and a live final cannot: the audio after the
sentence.
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
    decoder = engine.decoder
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
        for name, beam, prompt, padding_s in [("streaming beam 1", 1, voice.asr_prompt, None),
                                              ("streaming beam 5", 5, voice.asr_prompt, None),
                                              ("beam 5 without prompt", 5, None, None),
                                              ("beam 5, 30 s window", 5, voice.asr_prompt, 30.0)]:
            decoder.settings = settings.transcription if padding_s is None else \
                settings.transcription.model_copy(update={"window_padding_s": padding_s})
            heard = heard_in_turn(decoder, clips, language, prompt, beam, settings.transcription.context_s,
                                  MAX_UTTERANCES)
            row[name] = word_error_rate(reference, " ".join(heard), language)
        words = len(reference.split())
        totals["words"] = totals.get("words", 0) + words
        for name, rate in row.items():
            totals[name] = totals.get(name, 0.0) + rate * words
        print(f"{language} ({words} words): " + ", ".join(f"{k} {v:.1%}" for k, v in row.items()), flush=True)
    print("pooled: " + ", ".join(f"{k} {v / totals['words']:.1%}" for k, v in totals.items() if k != "words"))


if __name__ == "__main__":
    main()
