"""Polarity: which words of a text are said negated ("I do *not* sleep") and which affirmed.

The evidence check (bot/notes/evidence.py) uses it so that a statement cannot flip what was
said: "Client does not have trouble sleeping" shares every content word with "I have trouble
sleeping"; only polarity tells them apart. Rules, for English and Spanish:

* A **cue** ("not", "n't", "no", "never", "denies", "no longer", "stopped", "quit", "without",
  "none"…; "no", "nunca", "ya no", "dejó de", "niega", "sin", "ningún", "tampoco"…) negates the
  words after it up to the end of its **clause**: a sentence mark, colon, semicolon, quotation
  mark, or a contrast or cause ("but", "because", "pero", "porque"…). Negations do not cancel:
  Spanish doubles them ("no tengo ningún problema") and so does colloquial English.
* A cue followed by a comma before any content word is an answer ("No, I sleep fine"): it
  negates nothing after the comma.
* A bare negative answer ("No." "Not really." "Nunca." "I have not." "Not that I know of.") negates
  the last question before it, so "Any trouble sleeping?" + "No." supports "Client denies trouble
  sleeping".

Cue words are not content: they carry polarity, not a fact.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

from bot.notes.text import words

CUES = frozenset("""not no never none nothing nobody nowhere neither nor without cannot nope nah deny denies denied
    denying stop stops stopped stopping quit quits quitting nunca jamás tampoco ni nada nadie ningún ninguno ninguna
    ningunos ningunas sin niega niego niegan negó negaba""".split())
# Second words of two-word cues ("no longer", "gave up"): part of the cue, not content.
_CUE_TAILS = {"no": frozenset({"longer", "more"}), "gave": frozenset({"up"}), "give": frozenset({"up"}),
              "given": frozenset({"up"}), "giving": frozenset({"up"})}
_DEJAR = re.compile(r"^dej(?:o|é|ó|a|as|aste|amos|an|aron|ado|ar|ando|aba|aban)$")  # a cue only before "de"
_NOT_CONTENT = frozenset({"anymore"})  # "I don't drink anymore": the negation says it already
_ANSWER_WORDS = frozenset({"really", "at", "all", "way", "yet", "para", "todavía", "aún"})  # "not really", "no way"
_ANSWER_SUBJECTS = frozenset({"i", "it", "we", "they", "i'm", "it's", "we're", "they're"})
_ANSWER_AUXILIARIES = frozenset("have has had do does did am is are was were can will would".split())
_ANSWER_HEDGES = (("that", "i", "know", "of"), ("that", "i've", "noticed"), ("that", "i", "can", "remember"),
                  ("that", "i'm", "aware", "of"), ("that", "i", "remember"))  # "not that I know of"
_BOUNDARY_WORDS = frozenset("""but because although though however whereas unless except which pero porque aunque sino
    excepto salvo mientras""".split())
_CLAUSE = re.compile(r"([.!?;:\u201c\u201d\u00ab\u00bb\"()\[\]\n]+)")  # sentence marks, colons, quotes, brackets


@dataclass(frozen=True)
class Token:
    word: str
    negated: bool
    cue: bool  # part of a negation cue: polarity, not content


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\u2019", "'")
    return re.sub(r"(?i)(\w) (n't)\b", r"\1\2", text)  # tokenised transcripts write "do n't"


def is_cue(word: str) -> bool:
    return word in CUES or word.endswith("n't")


def is_bare_negative(scoped: list[Token], ignore: Collection[str] = frozenset()) -> bool:
    """A clause that is only a negative answer: "No." "Not really." "I have not." "I don't." "Not that I know of."."""
    i = 0
    if scoped and not scoped[0].cue and scoped[0].word in _ANSWER_SUBJECTS:  # "I have not", "it hasn't"
        i = 1
        while i < min(len(scoped), 3) and not scoped[i].cue and scoped[i].word in _ANSWER_AUXILIARIES:
            i += 1
    rest = scoped[i:]
    if not rest or not rest[0].cue:
        return False
    tail = [t.word for t in rest[1:]]
    if i == 0 and any(tail == list(hedge[: len(tail)]) and len(tail) >= 2 for hedge in _ANSWER_HEDGES):
        return True
    return all(t.cue or t.word in _ANSWER_WORDS or t.word in ignore for t in rest)


def _clause(text: str, ignore: Collection[str]) -> tuple[list[Token], bool]:
    """The clause's tokens, and whether it opens with a bare negative answer ("No," "Not really.")."""
    tokens: list[Token] = []
    negated = answer = False
    parts = text.split(",")
    for index, part in enumerate(parts):
        part_words = words(part)
        start = len(tokens)
        for j, word in enumerate(part_words):
            previous = part_words[j - 1] if j else ""
            following = part_words[j + 1] if j + 1 < len(part_words) else ""
            cue = (is_cue(word) or word in _CUE_TAILS.get(previous, ()) or (word == "ya" and following == "no")
                   or (bool(_DEJAR.match(word)) and following == "de"))
            negated = negated or cue
            tokens.append(Token(word, negated and not cue, cue or word in _NOT_CONTENT))
        scoped = tokens[start:]
        bare = is_bare_negative(scoped, ignore)
        if bare and start == 0:
            answer = True  # only an opening "No" answers a question
        if bare and index + 1 < len(parts):
            negated = False  # "No, I sleep fine": the answer negates nothing after the comma
    return tokens, answer


def _pieces(text: str) -> list[str]:
    """`text` cut before each contrast or cause word ("but", "because", "pero"…)."""
    pieces: list[str] = []
    current: list[str] = []
    for chunk in re.split(r"(\s+)", text):
        if chunk.strip().lower().strip(",") in _BOUNDARY_WORDS and "".join(current).strip():
            pieces.append("".join(current))
            current = []
        current.append(chunk)
    pieces.append("".join(current))
    return pieces


def tokens(text: str, ignore: Collection[str] = frozenset()) -> list[Token]:
    """Every word of `text` with its polarity. `ignore`: words that are not content (scaffolding, function words)."""
    result: list[Token] = []
    question: list[int] = []  # the content tokens of the last question not yet answered
    chunks = _CLAUSE.split(normalize(text))
    for k in range(0, len(chunks), 2):
        after = chunks[k + 1] if k + 1 < len(chunks) else ""
        before = chunks[k - 1] if k else ""
        for piece in _pieces(chunks[k]):
            clause, answer = _clause(piece, ignore)
            if answer and question:
                for i in question:  # "Any trouble sleeping?" "No." → trouble, sleeping negated
                    result[i] = Token(result[i].word, True, False)
                question = []
            content = [len(result) + i for i, t in enumerate(clause) if not t.cue and t.word not in ignore]
            result += clause
            if content and ("?" in after or "\u00bf" in before or piece.lstrip().startswith("\u00bf")):
                question = content
    return result
