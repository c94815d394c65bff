"""The evidence check every generated statement passes: does it cite real segments, and do they support it?

Support is lexical and deliberately strict, in two parts:

* **Words**: the share of the statement's own words (the note's scaffolding such as "Client
  reports:" and negation cues removed) found in the segments it cites, allowing for the word
  forms a rewrite changes and a few clinical names for what clients describe
  (bot/notes/paraphrase.py). A statement that says something nobody said scores low.
* **Polarity**: no own word may be negated in the statement and only affirmed in the evidence,
  or the other way round (bot/notes/polarity.py). "Client does not have trouble sleeping"
  citing "I have trouble sleeping" has every word and is still not supported.
* **Numbers**: every number in the statement must have been said, as digits or as words
  ("5 pounds" for "five pounds"); "6 pounds" is not supported by it however many words match.

Used by `sessionbot bench notes` (all words count) and by the model-server generator (function
words may be skipped there: a model rephrases "I can't sleep" as "the client cannot sleep", and
"the" is no fact).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.notes.paraphrase import keys
from bot.notes.phrases import PHRASES
from bot.notes.polarity import Token, tokens
from bot.notes.text import STOPWORDS, tidy, words
from bot.notes.unpunctuated import split as split_unpunctuated
from bot.transcribe.segment import Segment

SUPPORT_THRESHOLD = 0.8
# What a statement in the note's third person says for "I", "you" and their verbs ("I am" → "they are"):
# who, not what (bot/notes/person.py).
PERSON_WORDS = frozenset("""he she him his her hers himself herself they them theirs themselves are were am patient's
    client's""".split())  # below this share of its words in the evidence, a statement is not supported

# Words the generators add around what was said ("Client reports: …", "their" for "my"), and the
# verbs a clinician uses to attribute ("states", "describes"): they say who said it, not what.
SCAFFOLD = frozenset(
    w for language in PHRASES.values() for text in language.values() for w in words(re.sub(r"\{\w+\}", " ", text))
) | {"their", "themself", "the", "client", "client's", "is", "has", "does", "not", "was", "would", "will", "su", "sus",
   "se", "le", "ha", "no", "report", "reported", "reporting", "state", "states", "stated", "says", "describes",
   "described", "mentions", "mentioned", "menciona", "mencionó", "comenta", "comentó", "dice", "relata", "indica"} \
  | PERSON_WORDS


@dataclass(frozen=True)
class Support:
    share: float  # of the statement's own words found in the evidence (1.0 when it has none)
    contradicted: tuple[str, ...] = ()  # own words whose polarity the evidence only has the other way
    other_numbers: tuple[str, ...] = ()  # numbers the statement has and the evidence does not ("6" for "five")

    @property
    def supported(self) -> bool:
        return self.share >= SUPPORT_THRESHOLD and not self.contradicted and not self.other_numbers


def found(word: str, cited: set[str]) -> bool:
    """In the evidence, allowing for the third-person ending the rewrite adds (feels, tries, goes)."""
    return bool(_variants(word) & cited)


def _variants(word: str) -> set[str]:
    return {word, word[:-1], word[:-2], word[:-3] + "y"} if len(word) > 3 else {word}


def _numbers(token_keys: set[str]) -> set[str]:
    return {k for k in token_keys if k.startswith("#")}


def cited_segments(segment_ids: Iterable[str], by_id: Mapping[str, Segment]) -> list[Segment]:
    """The cited segments that exist, in citation order, each once."""
    return [by_id[i] for i in dict.fromkeys(segment_ids) if i in by_id]


def _keyed(items: list[Token], language: str) -> list[tuple[Token, set[str]]]:
    return list(zip(items, keys([t.word for t in items], language), strict=True))


def check(text: str, segments: Iterable[Segment], language: str | None = None) -> Support:
    """Words and polarity of `text` against `segments`. With `language`, its function words are not counted."""
    ordered = sorted(segments, key=lambda s: (s.start, s.id))  # a question before its answer
    forms = language or next((s.language for s in ordered if s.language), None) or "en"
    ignore = SCAFFOLD | (STOPWORDS.get(language, STOPWORDS["en"]) if language else frozenset())
    # a transcript without sentence marks gets them back first, so a negation's scope ends where its clause does
    said = _keyed(tokens("\n".join(p for s in ordered for p in split_unpunctuated(tidy(s.text))), ignore), forms)
    cited = {t.word for t, _ in said}
    said_keys = set().union(*(k for _, k in said)) if said else set()
    own = [(t, k) for t, k in _keyed(tokens(text, ignore), forms) if not t.cue and t.word not in ignore]
    if not own:
        return Support(1.0)
    hits = sum(found(t.word, cited) or bool(k & said_keys) for t, k in own)
    # a number must be one that was said (as digits or words): "6 pounds" is not supported by "five pounds"
    other_numbers = tuple(dict.fromkeys(t.word for t, k in own if _numbers(k) and not _numbers(k) & said_keys))
    contradicted: list[str] = []
    for token, token_keys in own:
        variants = _variants(token.word)
        polarities = {e.negated for e, e_keys in said if not e.cue and (e.word in variants or token_keys & e_keys)}
        if polarities and token.negated not in polarities:
            contradicted.append(token.word)
    return Support(hits / len(own), tuple(dict.fromkeys(contradicted)), other_numbers)


def support_share(text: str, segments: Iterable[Segment], language: str | None = None) -> float:
    """Share of the statement's own words found in `segments` (1.0 when it has none of its own), and 0.0
    when it contradicts their polarity or has a number they do not: a statement saying the opposite of what
    was said, or another number, supports nothing.

    With `language`, that language's function words are not counted either."""
    result = check(text, segments, language)
    return 0.0 if result.contradicted or result.other_numbers else result.share


def is_supported(text: str, segments: Iterable[Segment], language: str | None = None) -> bool:
    return check(text, segments, language).supported
