"""Units: what gets classified into note sections.

Each segment is tidied and split into sentences; questions and acknowledgements are
dropped; a short answer is joined to the clinician question it answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from bot.notes.risk_semantic import MAX_SENTENCE_WORDS as RISK_SENTENCE_WORDS
from bot.notes.unpunctuated import split as split_unpunctuated
from bot.notes.text import STOPWORDS, content_words, is_question, sentences, tidy, words
from bot.transcribe.segment import Segment

MAX_EMBED_WORDS = 24  # classification needs the gist; long sentences are cut for the embedder only
SHORT_ANSWER_WORDS = 8

_TAG_QUESTION = re.compile(
    r"(?i)[,\s]+(?:okay|ok|right|all right|alright|yeah|correct|you know|does that sound good|sound good|"
    r"does that make sense|is that okay|is that all right|vale|de acuerdo|verdad|sí|no)\s*\?$"
)
_ACKNOWLEDGEMENTS = frozenset("""okay ok alright sure right great perfect cool fine thanks vale bueno claro
    perfecto gracias genial""".split()) | {"all right", "sounds good", "got it", "thank you", "de acuerdo",
                                           "está bien", "muy bien"}


# Discourse markers carry no section cue; dropping them from what is embedded saves tokens.
_DISCOURSE = re.compile(r"(?i)(?:^|(?<=[\s,]))(?:you know|i mean|kind of|sort of|so|and|okay|ok|all right|alright|"
                        r"well|yeah|just|pues|bueno|o sea|este|vale)(?:\s*,)?(?=\s|$)")


@dataclass(frozen=True)
class Unit:
    """What gets classified: one content sentence of a segment, or a short answer with its question."""

    segment: Segment  # the speaker's segment (the statement is attributed to its speaker)
    sentence: str
    order: int  # position among all units, in transcript order
    question: Segment | None = None
    question_text: str = ""

    @property
    def segments(self) -> tuple[Segment, ...]:
        return (self.question, self.segment) if self.question else (self.segment,)

    @cached_property
    def embed_text(self) -> str:
        if self.question is None and self.segment.role != "clinician":
            # the very text the semantic risk signal embeds for this sentence: with risk flags consented,
            # one embedding serves both
            return " ".join(self.sentence.split()[:RISK_SENTENCE_WORDS])
        text = f"{self.question_text} {self.sentence}" if self.question else self.sentence
        text = _DISCOURSE.sub(" ", text)
        return " ".join(text.split()[:MAX_EMBED_WORDS])


def _is_filler_sentence(sentence: str, language: str) -> bool:
    return len(content_words(sentence, language)) < 2 and not re.search(r"\d", sentence)


def _is_acknowledgement(text: str) -> bool:
    spoken = f" {' '.join(words(text))} "
    for phrase in (a for a in _ACKNOWLEDGEMENTS if " " in a):
        spoken = spoken.replace(f" {phrase} ", " ")
    return all(w in _ACKNOWLEDGEMENTS or w in ("so", "much", "very", "yeah") for w in spoken.split())


def _statement_sentences(segment: Segment) -> list[str]:
    """Sentences of a segment with tag questions ("…, okay?") turned back into statements."""
    out = []
    for sentence in (s for piece in split_unpunctuated(tidy(segment.text)) for s in sentences(piece)):
        untagged = _TAG_QUESTION.sub("", sentence)
        if untagged != sentence and untagged.strip(" ,"):
            sentence = untagged.rstrip(" ,") + "."
        out.append(sentence)
    return out


def build_units(segments: Sequence[Segment], language: str) -> list[Unit]:
    """Drop questions and acknowledgements; pair short answers with the clinician question before them."""
    units: list[Unit] = []
    previous: Segment | None = None
    for segment in segments:
        lang = segment.language if segment.language in STOPWORDS else language
        kept = [s for s in _statement_sentences(segment) if not is_question(s) and not _is_filler_sentence(s, lang)]
        for sentence in kept:
            units.append(Unit(segment, sentence, len(units)))
        if (
            not kept and previous is not None and previous.role == "clinician" and segment.role != "clinician"
            and previous.participant_id != segment.participant_id
            and 0 < len(words(segment.text)) <= SHORT_ANSWER_WORDS and not _is_acknowledgement(segment.text)
            and words(tidy(segment.text))  # "mm-hmm" is a filler, and no answer once tidied
        ):
            questions = [s for s in _statement_sentences(previous) if is_question(s)]
            if questions and len(content_words(questions[-1], lang)) >= 2:
                units.append(Unit(segment, tidy(segment.text), len(units), previous, questions[-1]))
        previous = segment
    return units
