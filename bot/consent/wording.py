"""How a language's rules read words as people write them: chat shorthand and negation.

Two things a regular expression over normalised text gets wrong on its own:

- Chat shorthand. "nao quero q grave", "nn voglio ke registri", "i dont wanna be recorded": the
  rules are written in full words, so each language lists its shorthand (`objection.shorthand`,
  word → words) and a clause is read with it expanded. Whole words only, and only shorthand that
  means one thing ("q" = "que"), so ordinary text reads the same.
- Negation. "I don't object to the AI", "no me opongo a la transcripción", "je refuse pas l'IA"
  matched the objection cue or pattern inside them and stopped the session. An intent or pattern
  match directly after one of the language's `objection.negations` (optionally with a clitic or
  an adverb the language's entry allows), or directly before one of its `objection.negations_after`
  (French "pas"), is not meant. A match that itself begins with a negation ("don't want", "no
  quiero", "non voglio") is the objection, whatever comes before it: "no, no quiero que grabe". A
  negation the written utterance sets apart with a comma answers rather than negates ("I really
  don't, stop the AI"; the clause itself has lost its punctuation), and a comma after a negation
  ends a clause ("Eu disse que não, desliga a IA" is not the acceptance "não desliga").
  A clause naming a target whose only objection words are negated denies objecting, as the
  `denials` do: what the meaning model finds there is asked about, never stopped on (it read "Que
  quede claro que no me opongo a la transcripción" as an objection, p = 0.988).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_WORD = re.compile(r"[\w']+")
_LOOKAROUND = re.compile(r"\(\?<?[=!][^()]*\)")


@dataclass(frozen=True)
class Wording:
    shorthand: dict[str, str] = field(default_factory=dict)
    negated_before: re.Pattern[str] | None = None  # a negation ending where the match begins
    negated_after: re.Pattern[str] | None = None  # a negation starting where the match ends
    starts_negated: re.Pattern[str] | None = None  # the match itself begins with a negation
    holds_negation: re.Pattern[str] | None = None  # the match holds the negation's second half ("veux plus")
    answer: re.Pattern[str] | None = None  # a negation followed by a comma: "No, apague…", "não, desliga…"

    @classmethod
    def build(cls, shorthand: dict[str, str], before: Iterable[str], after: Iterable[str]) -> Wording:
        before, after = list(before), list(after)
        ahead = "|".join(f"(?:{b})" for b in before)
        behind = "|".join(f"(?:{a})" for a in after)
        return cls(
            shorthand=dict(shorthand),
            negated_before=re.compile(rf"(?<!\w)(?:{ahead})\s+$") if before else None,
            negated_after=re.compile(rf"^\s+(?:{behind})(?!\w)") if after else None,
            # An elided negation ("n'enregistrez") ends in its apostrophe, inside the word.
            starts_negated=re.compile(rf"(?:{ahead})(?:(?!\w)|(?<='))") if before else None,
            holds_negation=re.compile(rf"(?<!\w)(?:{behind})(?!\w)") if after else None,
            # Wherever it stands: a comma after it makes it an answer, even at the start of an utterance.
            answer=re.compile(rf"(?<!\w)((?:{_LOOKAROUND.sub('', ahead)}))\s*,\s") if before else None,
        )

    def split_answers(self, text: str) -> str:
        """The written text with a sentence end after each negation that a comma sets apart ("não,
        desliga a IA" → "não. desliga a IA"): the answer and what follows are separate clauses, so no
        look-alike rule or acceptance ("não desliga") reads the two as one."""
        return self.answer.sub(r"\1. ", text) if self.answer is not None else text

    def expand(self, text: str) -> str:
        """The text with its chat shorthand written out (whole words; punctuation kept)."""
        if not self.shorthand:
            return text
        return _WORD.sub(lambda word: self.shorthand.get(word.group(), word.group()), text)

    def meant(self, match: re.Match[str], said: str = "") -> bool:
        """Whether a match in a clause is said, not negated ("I don't object", "je refuse pas").
        `said`: the utterance as written (lower case, shorthand expanded), whose punctuation the clause
        has lost. A negation set apart from the match by punctuation answers rather than negates ("I
        really don't, stop the AI"; "Arrêtez, pas envie d'être enregistrée"), and a negated request in a
        question is a suggestion ("Why not stop the recording?", "¿Por qué no apaga la grabación?")."""
        clause = match.string
        # At its place in the clause, so that a negation's own look-behind ("no" after a word) applies;
        # "Ne m'enregistrez plus" is itself the negation its "plus" completes.
        if self.starts_negated is not None and self.starts_negated.match(clause, match.start()):
            return True
        words = match.group().split()
        if not words:  # a hand-edited rule that matches nothing at all: as before negation was read
            return True
        first, last = words[0], words[-1]
        if self.negated_after is not None:
            after = self.negated_after.search(clause[match.end():])
            if after is not None and not _set_apart(said, last, after.group().split()[0]) \
                    and not _asked(said, last, after.group().split()[0]):
                return False
        if self.negated_before is None:
            return True
        if self.holds_negation is not None and self.holds_negation.search(match.group()):
            return True  # "je ne veux plus être enregistré": the match is the whole negation
        negation = self.negated_before.search(clause[:match.start()])
        if negation is None:
            return True
        word = negation.group().split()[-1]
        return _set_apart(said, word, first) or _asked(said, word, first)

    def first_meant(self, patterns: Iterable[re.Pattern[str]], clause: str, said: str = "") -> re.Pattern[str] | None:
        """The first pattern with a match in the clause that is not negated."""
        return next((p for p in patterns if any(self.meant(m, said) for m in p.finditer(clause))), None)

    def negated(self, patterns: Iterable[re.Pattern[str]], clause: str, said: str = "") -> bool:
        """Whether any pattern has a negated match in the clause (called once no match there is meant:
        the clause then denies objecting)."""
        return any(not self.meant(m, said) for p in patterns for m in p.finditer(clause))


def _set_apart(said: str, before: str, after: str) -> bool:
    """The written utterance has punctuation between these two neighbouring words."""
    return re.search(rf"(?<!\w){re.escape(before)}(?:\s*[^\w\s])+\s*{re.escape(after)}(?!\w)", said) is not None


def _asked(said: str, before: str, after: str) -> bool:
    """The two neighbouring words stand in a question: the next sentence end after them is "?"."""
    found = re.search(rf"(?<!\w){re.escape(before)}\W+{re.escape(after)}(?!\w)[^.!?]*([.!?]|$)", said)
    return found is not None and found.group(1) == "?"


PLAIN = Wording()
