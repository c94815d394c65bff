"""The evidence check every generated statement passes: does it cite real segments, and do they support it?

Support is lexical and deliberately strict: the share of the statement's own words (the note's
scaffolding such as "Client reports:" removed) that occur in the segments it cites, allowing
only for the third-person endings a rewrite adds. A statement that says something nobody said
scores low. Used by `sessionbot bench notes` (all words count) and by the model-server
generator (function words may be skipped there: a model rephrases "I can't sleep" as "the
client cannot sleep", and "the" is no fact).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from bot.notes.phrases import PHRASES
from bot.notes.text import STOPWORDS, tidy, words
from bot.transcribe.segment import Segment

SUPPORT_THRESHOLD = 0.8  # below this share of its words in the evidence, a statement is not supported

# Words the generators add around what was said ("Client reports: …", "their" for "my").
SCAFFOLD = frozenset(
    w for language in PHRASES.values() for text in language.values() for w in words(re.sub(r"\{\w+\}", " ", text))
) | {"their", "themself", "the", "client", "client's", "is", "has", "does", "not", "was", "would", "will", "su", "sus",
   "se", "le", "ha", "no"}


def found(word: str, cited: set[str]) -> bool:
    """In the evidence, allowing for the third-person ending the rewrite adds (feels, tries, goes)."""
    return bool({word, word[:-1], word[:-2], word[:-3] + "y"} & cited) if len(word) > 3 else word in cited


def cited_segments(segment_ids: Iterable[str], by_id: Mapping[str, Segment]) -> list[Segment]:
    """The cited segments that exist, in citation order, each once."""
    return [by_id[i] for i in dict.fromkeys(segment_ids) if i in by_id]


def support_share(text: str, segments: Iterable[Segment], language: str | None = None) -> float:
    """Share of the statement's own words found in `segments` (1.0 when it has none of its own).

    With `language`, that language's function words are not counted either."""
    cited = {w for s in segments for w in words(tidy(s.text))}
    ignore = SCAFFOLD | (STOPWORDS.get(language, STOPWORDS["en"]) if language else frozenset())
    own = [w for w in words(text) if w not in ignore]
    return 1.0 if not own else sum(found(w, cited) for w in own) / len(own)
