"""Word error rate with a stated normalization (used by tests, the demo and benchmarks).

Both sides are lower-cased, stripped of punctuation and accents-preserving
(Spanish "sesión" stays "sesión"), and digits are spelled out in the given
language, so that "11" and "eleven" count as the same word.
"""

from __future__ import annotations

import re
import unicodedata

import jiwer
from num2words import num2words

_NUMBER = re.compile(r"\d+")
_NOT_WORD = re.compile(r"[^\w\s']|_")


def normalize(text: str, language: str = "en") -> str:
    text = unicodedata.normalize("NFC", text.lower())
    text = _NUMBER.sub(lambda m: " " + num2words(int(m.group()), lang=language) + " ", text)
    text = text.replace("-", " ")
    text = _NOT_WORD.sub(" ", text)
    return " ".join(text.split())


def word_error_rate(reference: str, hypothesis: str, language: str = "en") -> float:
    ref = normalize(reference, language)
    hyp = normalize(hypothesis, language)
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.wer(ref, hyp))


def content_word_recall(reference: str, hypothesis: str, language: str = "en", min_length: int = 4) -> float:
    """Share of the reference's distinct content words (≥ min_length letters) found in the hypothesis."""
    wanted = {w for w in normalize(reference, language).split() if len(w) >= min_length}
    heard = set(normalize(hypothesis, language).split())
    return len(wanted & heard) / len(wanted) if wanted else 1.0
