"""Whisper decoding with CTranslate2, sized to the utterance, batched across streams.

faster-whisper pads every call to Whisper's 30 s window, so one pass costs the
same for a 2 s utterance as for a 30 s one. CTranslate2 accepts shorter encoder
inputs: this decoder encodes each utterance plus `padding_s` of silence (never
less, because too short a window makes Whisper repeat itself at the end), and
encodes utterances that are ready at the same moment, from different streams,
as one batch. On LJ Speech with base int8 that was 3.5x faster for a word
error rate 1.09x the 30 s window's (README, Benchmarks).

Anything suspicious (repetition, low confidence) is heard again, cheapest first:
a longer window with the careful beam (an utterance-sized window is what makes
Whisper loop, "X. X. X…", and a window RETRY_PADDING_S longer seldom does), and
only if that is still doubtful, faster-whisper's own transcribe with its 30 s
window and temperature fallback. No pass may generate more tokens than the
audio could hold (TOKENS_PER_SECOND), so a loop costs a third of what it did.
Silence and noise are dropped using Whisper's own no-speech probability, and
so is text that only repeats the prompt (Whisper's way of saying "I heard nothing
clear" when primed: see `is_prompt_echo`).

A final can be heard in context (`Context`): the same speaker's previous utterances go in front
of it in the window and their text is forced as the decoder's prefix, so Whisper writes
only the new words but hears them the way it hears a whole recording. Decoded alone, a sentence
loses what the sentences before it tell the model about the voice, the language and the topic.
With the previous utterance as context, through the whole pipeline at beam 5, on espeak-ng
renderings of 40 ordinary sentences per language, word errors went from 10.1 % to 8.1 % in English,
35.3 % to 27.7 % in Spanish (offline faster-whisper on the whole recording: 27.5 %) and 32.1 % to
25.0 % in German. Which utterances make the context: recent.py.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer

from bot.audio.pcm import ASR_RATE, pcm_to_float
from bot.config import TranscriptionSettings

FULL_WINDOW_FRAMES = 3000  # 30 s of 10 ms mel frames
MAX_NEW_TOKENS = 200
# Fast speech is ~4 words a second and the multilingual vocabulary spends up to ~2.5 tokens on a
# German or Portuguese word: 12 a second plus a margin leaves room for any real utterance, while a
# decode that loops ("Uno me nacha … necesaria. Uno me nacha …", 4 s of Spanish, bench asr) stops
# at the cap instead of running to MAX_NEW_TOKENS (1.1 s of a shared worker). Text that reaches the
# cap is doubtful and heard again.
TOKENS_PER_SECOND = 12
TOKEN_MARGIN = 16
# The second hearing's window: utterance + this much silence. On the looping Spanish utterance above,
# padding of 1-3 s looped, 5-8 s did not; 8 s with beam 5 cost 0.4 s where the 30 s careful pass
# cost 1.2 s (idle machine), for the same text.
RETRY_PADDING_S = 8.0


@dataclass(frozen=True)
class Job:
    samples: np.ndarray  # int16, 16 kHz
    language: str
    prompt: str | None
    # Called (from the decoding thread) with the first pass's text when it is about to be decoded
    # again the careful way: ~1.5 s earlier than the careful text, for objection checks only.
    on_draft: Callable[[str], None] | None = None
    # Decode the careful way outright (full window, beam CAREFUL_BEAM, temperature fallback): a second
    # look at an utterance whose first hearing named the assistant but matched no objection.
    careful: bool = False
    # A partial is best effort: when it looks doubtful it is dropped, never decoded again the slow way
    # (a careful pass on the single decoder held the next final back by a second or more).
    partial: bool = False
    context: Context | None = None

    def window_samples(self) -> np.ndarray:
        """What the encoder hears: the context utterance, a short gap, then this one."""
        if self.context is None:
            return self.samples
        gap = np.zeros(int(CONTEXT_GAP_S * ASR_RATE), dtype=np.int16)
        return np.concatenate([self.context.samples, gap, self.samples])


CAREFUL_BEAM = 5
# Between the context utterance and the new one: enough for Whisper to hear two utterances, not so
# much that it spends the window on silence.
CONTEXT_GAP_S = 0.3


@dataclass(frozen=True)
class Context:
    """The same speaker's previous utterances and what was heard in them (see the module's docstring)."""

    samples: np.ndarray  # int16, 16 kHz
    text: str

    @classmethod
    def joined(cls, utterances: Sequence[Context]) -> Context:
        """Consecutive utterances, oldest first, as one context: CONTEXT_GAP_S apart, as in the window."""
        gap = np.zeros(int(CONTEXT_GAP_S * ASR_RATE), dtype=np.int16)
        audio = [part for utterance in utterances for part in (gap, utterance.samples)][1:]
        return cls(np.concatenate(audio), " ".join(u.text.strip() for u in utterances))


@dataclass(frozen=True)
class Recognized:
    text: str
    language: str
    confidence: float
    compute_s: float
    fallback: bool = False


@dataclass(frozen=True)
class Outcome:
    """What happened to one job: text, or why there is none (never the text itself in logs)."""

    recognized: Recognized | None
    dropped: str | None = None  # "no_speech" | "low_confidence" | "repetition" | "empty" | "prompt_echo"
    # What Whisper guessed when the filters dropped it: never stored or shown, but an
    # objection must be honoured even when the recognizer is unsure it heard one.
    unsure_text: str | None = None


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


# On unclear audio a primed Whisper returns pieces of its prompt instead of what was said
# (for noise: "O bot, está transcrevendo.", "La thérapeute"). Such text is not the
# participant's: it must reach neither the transcript nor the objection check. The measure
# is the share of the text's words that lie in a run of at least ECHO_MIN_RUN consecutive
# words found verbatim in the prompt (a two-word text: both words, in the prompt's order).
# Runs, not single words: the prompts share "de", "la", "the" and "therapist" with ordinary
# talk, but three words in the prompt's order are a quotation, and a union of runs still
# catches an echo that skips part of the prompt or repeats it. Echoes seen on noise and on
# speech in another language were 70-100 % prompt; ECHO_MIN_SHARE = 0.6 leaves room for a
# skipped word, while real sentences in the session's language stayed at 0 % (tests/unit/
# test_prompt_echo.py, tests/integration/test_prompt_echo.py). And a text is an echo only if
# *every* word of it is a prompt word: a text with a word of its own ("desligue o assistente
# de IA", 60 % prompt) is kept, so an objection that names the assistant the way the prompt
# does is never taken for an echo, and what is dropped is made of prompt words only, which
# form no objection (tests/unit/test_announcements.py). The price: a partial echo with a
# hallucinated word ("Die Therapeutin arbeitet mit einem Komponenten.") is kept; that is
# harmless to consent because the prompts word no objection.
ECHO_MIN_RUN = 3
ECHO_MIN_SHARE = 0.6
_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFC", text).casefold())


def prompt_overlap(text: str, prompt: str | None) -> float:
    """Share (0-1) of the text's words inside runs of >= ECHO_MIN_RUN consecutive words (both
    words of a two-word text) that occur in the same order in the prompt; case and
    punctuation are ignored."""
    words, source = _words(text), _words(prompt or "")
    run = min(ECHO_MIN_RUN, len(words))
    if run < 2 or len(source) < run:
        return 0.0
    covered = [False] * len(words)
    for start in range(len(words) - run + 1):
        longest = 0
        for offset in range(len(source)):
            length = 0
            while (start + length < len(words) and offset + length < len(source)
                   and words[start + length] == source[offset + length]):
                length += 1
            longest = max(longest, length)
        if longest >= run:
            covered[start:start + longest] = [True] * longest
    return sum(covered) / len(words)


# An utterance-sized window can make Whisper say the utterance twice ("dal passo si sale … dal passo
# si sale …", bench asr, Italian): too few words for the compression-ratio check to catch, so a text
# whose end repeats the run of words just before it is heard again.
REPEAT_MIN_WORDS = 4


def repeats_itself(text: str) -> bool:
    """The text ends in two copies of the same run of at least REPEAT_MIN_WORDS words."""
    words = _words(text)
    return any(words[-n:] == words[-2 * n : -n] for n in range(REPEAT_MIN_WORDS, len(words) // 2 + 1))


def is_prompt_echo(text: str, prompt: str | None) -> bool:
    """The recognised text reproduces the prompt rather than anything said (see above)."""
    if not prompt:
        return False
    vocabulary = set(_words(prompt))
    return all(w in vocabulary for w in _words(text)) and prompt_overlap(text, prompt) >= ECHO_MIN_SHARE


class WhisperDecoder:
    def __init__(self, model: WhisperModel, settings: TranscriptionSettings) -> None:
        self.model = model
        self.settings = settings
        self.multilingual = model.model.is_multilingual
        self._tokenizers: dict[str, Tokenizer] = {}

    def tokenizer(self, language: str) -> Tokenizer:
        if language not in self._tokenizers:
            self._tokenizers[language] = Tokenizer(
                self.model.hf_tokenizer, self.multilingual, task="transcribe",
                language=language if self.multilingual else "en",
            )
        return self._tokenizers[language]

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        if not self.multilingual:
            return "en", 1.0
        language, probability, _ = self.model.detect_language(pcm_to_float(samples))
        return language, float(probability)

    def _prompt_tokens(self, tokenizer: Tokenizer, prompt: str | None) -> list[int]:
        tokens: list[int] = []
        if prompt:
            tokens = [tokenizer.sot_prev] + tokenizer.encode(" " + prompt.strip())[-(MAX_NEW_TOKENS // 2 - 1):]
        return tokens + list(tokenizer.sot_sequence) + [tokenizer.no_timestamps]

    @staticmethod
    def _forced(tokenizer: Tokenizer, job: Job) -> list[int]:
        """The context's text, forced after <|notimestamps|>: the decoder continues from it."""
        return tokenizer.encode(" " + job.context.text.strip()) if job.context is not None else []

    def decode(self, jobs: list[Job], beam_size: int = 1) -> list[Outcome]:
        """Decode a batch; the window fits the longest job plus padding. Second looks (`Job.careful`)
        are decoded the careful way, one by one."""
        if self.settings.window_padding_s <= 0:
            return [self._careful(job, time.perf_counter(), beam_size) for job in jobs]
        if any(job.careful for job in jobs):
            quick = [job for job in jobs if not job.careful]
            decoded = iter(self.decode(quick, beam_size) if quick else [])
            return [self._careful(job, time.perf_counter(), CAREFUL_BEAM) if job.careful else next(decoded)
                    for job in jobs]
        return self._decode_windowed(jobs, beam_size, self.settings.window_padding_s, retry=True)

    def _decode_windowed(self, jobs: list[Job], beam_size: int, padding_s: float, retry: bool) -> list[Outcome]:
        started = time.perf_counter()
        tokenizers = [self.tokenizer(job.language) for job in jobs]
        heads = [self._prompt_tokens(t, job.prompt) for t, job in zip(tokenizers, jobs, strict=True)]
        forced = [self._forced(t, job) for t, job in zip(tokenizers, jobs, strict=True)]
        # CTranslate2 wants <|startoftranscript|> at the same position in every prompt of a batch: jobs
        # whose prompts differ in length before it (sessions in other languages, or without a prompt)
        # are decoded in separate passes, never failed (they were: "untranscribed (recognizer error)").
        # Forced context text after it may differ in length (the same text comes out alone or batched).
        groups: dict[int, list[int]] = {}
        for index, head in enumerate(heads):
            groups.setdefault(len(head), []).append(index)
        results: list[ctranslate2.models.WhisperGenerationResult | None] = [None] * len(jobs)
        for indices in groups.values():
            generated = self._generate([jobs[i] for i in indices], [heads[i] + forced[i] for i in indices],
                                       tokenizers[indices[0]], beam_size, padding_s)
            for index, result in zip(indices, generated, strict=True):
                results[index] = result
        elapsed = (time.perf_counter() - started) / len(jobs)
        return [self._judge(job, tokenizer, result, prefix, elapsed, beam_size, retry)  # type: ignore[arg-type]
                for job, tokenizer, result, prefix in zip(jobs, tokenizers, results, forced, strict=True)]

    def _generate(self, jobs: list[Job], prompts: list[list[int]], tokenizer: Tokenizer,
                  beam_size: int, padding_s: float) -> list[ctranslate2.models.WhisperGenerationResult]:
        features = [self.model.feature_extractor(pcm_to_float(job.window_samples())) for job in jobs]
        window = min(FULL_WINDOW_FRAMES, max(f.shape[-1] for f in features) + int(padding_s * 100))
        window += window % 2  # the encoder's stride-2 convolution
        batch = np.zeros((len(jobs), features[0].shape[0], window), dtype=np.float32)
        for index, feature in enumerate(features):
            batch[index, :, : min(feature.shape[-1], window)] = feature[:, :window]
        encoded = self.model.model.encode(ctranslate2.StorageView.from_array(batch), to_cpu=False)
        return self.model.model.generate(
            encoded, prompts, beam_size=beam_size, max_length=max_new_tokens(jobs) + max(map(len, prompts)),
            return_scores=True, return_no_speech_prob=True, suppress_blank=True,
            suppress_tokens=self._suppressed(tokenizer), no_repeat_ngram_size=0,
        )

    def _suppressed(self, tokenizer: Tokenizer) -> list[int]:
        tokens = set(tokenizer.non_speech_tokens)
        tokens.update({tokenizer.transcribe, tokenizer.translate, tokenizer.sot, tokenizer.sot_prev,
                       tokenizer.sot_lm, tokenizer.no_speech})
        return sorted(tokens)

    def _judge(self, job: Job, tokenizer: Tokenizer, result: ctranslate2.models.WhisperGenerationResult,
               forced: list[int], compute_s: float, beam_size: int, retry: bool) -> Outcome:
        s = self.settings
        generated = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        if generated[: len(forced)] != forced:  # never seen; if it were, the context's words could pass as new
            return self._hear_again(job, time.perf_counter() - compute_s, beam_size, retry)
        tokens = generated[len(forced):]  # the context's forced text comes back first: not this utterance's
        avg_logprob = result.scores[0] * len(generated) / (len(generated) + 1)
        text = tokenizer.decode(tokens).strip()
        if job.context is not None and (not _words(text) or is_prompt_echo(text, job.context.text)):
            # Nothing new after the prefix, or the context said again (what noise after a sentence gave):
            # the context may have swallowed this utterance, so it is heard alone, with every filter.
            return self._decode_windowed([replace(job, context=None)], beam_size, self.settings.window_padding_s,
                                         retry)[0]
        echo = is_prompt_echo(text, job.prompt)
        if result.no_speech_prob > s.no_speech_threshold and avg_logprob < s.log_prob_threshold:
            return Outcome(None, "prompt_echo") if echo else Outcome(None, "no_speech", text or None)
        doubtful = (compression_ratio(text) > s.compression_ratio_threshold or avg_logprob < s.log_prob_threshold
                    or repeats_itself(text) or len(tokens) >= max_new_tokens([job]))
        if job.partial and (echo or doubtful):  # what it doubted is still checked for an objection
            return Outcome(None, "prompt_echo") if echo else Outcome(None, "low_confidence", text or None)
        started = time.perf_counter() - compute_s
        if echo:
            # Not dropped yet: speech this unclear gets a second hearing, which drops the echo
            # again if that is all it hears. Never a draft: it was not said.
            return self._hear_again(job, started, beam_size, retry)
        if doubtful:
            if job.on_draft is not None and text:
                job.on_draft(text)
            return self._hear_again(job, started, beam_size, retry)
        if not text:
            return Outcome(None, "empty")
        return Outcome(Recognized(text, job.language, math.exp(avg_logprob), compute_s, fallback=not retry))

    def _hear_again(self, job: Job, started: float, beam_size: int, retry: bool) -> Outcome:
        """The longer window first; the 30 s careful pass only if that is doubtful too."""
        if not retry:
            return self._careful(job, started, beam_size)
        again = replace(job, on_draft=None, context=None)  # the first pass's text was the draft; heard alone
        [outcome] = self._decode_windowed([again], max(beam_size, CAREFUL_BEAM), RETRY_PADDING_S, retry=False)
        if outcome.recognized is not None:
            return Outcome(replace(outcome.recognized, compute_s=time.perf_counter() - started))
        return outcome

    def _careful(self, job: Job, started: float, beam_size: int) -> Outcome:
        """faster-whisper's full-window decode with temperature fallback, then the same filters."""
        s = self.settings
        segments, info = self.model.transcribe(
            pcm_to_float(job.samples), language=job.language if self.multilingual else "en",
            beam_size=beam_size, vad_filter=False, condition_on_previous_text=False, without_timestamps=True,
            initial_prompt=job.prompt, no_speech_threshold=s.no_speech_threshold,
            log_prob_threshold=s.log_prob_threshold, compression_ratio_threshold=s.compression_ratio_threshold,
        )
        kept, probabilities, reason, unsure = [], [], None, []
        for segment in segments:
            if is_prompt_echo(segment.text, job.prompt):
                reason = "prompt_echo"
                continue
            if segment.no_speech_prob > s.no_speech_threshold and segment.avg_logprob < s.log_prob_threshold:
                reason = "no_speech"
            elif segment.compression_ratio > s.compression_ratio_threshold:
                reason = "repetition"
            elif segment.avg_logprob < s.log_prob_threshold:
                reason = "low_confidence"
            elif segment.text.strip():
                kept.append(segment.text.strip())
                probabilities.append(math.exp(segment.avg_logprob))
                continue
            unsure.append(segment.text.strip())
        if kept and is_prompt_echo(" ".join(kept), job.prompt):  # echoed a piece per segment
            kept, reason = [], "prompt_echo"
        if not kept:
            return Outcome(None, reason or "empty", " ".join(t for t in unsure if t) or None)
        return Outcome(Recognized(" ".join(kept), info.language, float(np.mean(probabilities)),
                                  time.perf_counter() - started, fallback=True))


def max_new_tokens(jobs: list[Job]) -> int:
    longest = max(job.samples.size for job in jobs) / ASR_RATE
    return min(MAX_NEW_TOKENS, int(TOKENS_PER_SECOND * longest) + TOKEN_MARGIN)


def audio_seconds(samples: np.ndarray) -> float:
    return samples.size / ASR_RATE
