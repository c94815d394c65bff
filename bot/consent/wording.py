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
  don't, stop the AI"; the clause itself has lost its punctuation).
  A clause naming a target whose only objection words are negated denies objecting, as the
  `denials` do: what the meaning model finds there is asked about, never stopped on (it read "Que
  quede claro que no me opongo a la transcripción" as an objection, p = 0.988).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_WORD = re.compile(r"[\w']+")


@dataclass(frozen=True)
class Wording:
    shorthand: dict[str, str] = field(default_factory=dict)
    negated_before: re.Pattern[str] | None = None  # a negation ending where the match begins
    negated_after: re.Pattern[str] | None = None  # a negation starting where the match ends
    starts_negated: re.Pattern[str] | None = None  # the match itself begins with a negation

    @classmethod
    def build(cls, shorthand: dict[str, str], before: Iterable[str], after: Iterable[str]) -> Wording:
        before, after = list(before), list(after)
        alternatives = "|".join(f"(?:{b})" for b in before)
        return cls(
            shorthand=dict(shorthand),
            negated_before=re.compile(rf"(?<!\w)(?:{alternatives})\s+$") if before else None,
            negated_after=re.compile(rf"^\s+(?:{'|'.join(f'(?:{a})' for a in after)})(?!\w)") if after else None,
            starts_negated=re.compile(rf"(?:{alternatives})(?!\w)") if before else None,
        )

    def expand(self, clause: str) -> str:
        """The normalised clause with its chat shorthand written out."""
        if not self.shorthand:
            return clause
        return _WORD.sub(lambda word: self.shorthand.get(word.group(), word.group()), clause)

    def meant(self, match: re.Match[str], said: str = "") -> bool:
        """Whether a match in a clause is said, not negated ("I don't object", "je refuse pas").
        `said`: the utterance as written, lower case, whose punctuation the clause has lost: a negation
        followed by a comma there answers rather than negates ("I really don't, stop the AI")."""
        clause = match.string
        if self.negated_after is not None and self.negated_after.search(clause[match.end():]):
            return False
        # At its place in the clause, so that a negation's own look-behind ("no" after a word) applies.
        if self.negated_before is None or self.starts_negated.match(clause, match.start()):  # type: ignore[union-attr]
            return True
        negation = self.negated_before.search(clause[:match.start()])
        return negation is None or _set_apart(said, negation.group().split()[-1], match.group().split()[0])

    def first_meant(self, patterns: Iterable[re.Pattern[str]], clause: str, said: str = "") -> re.Pattern[str] | None:
        """The first pattern with a match in the clause that is not negated."""
        return next((p for p in patterns if any(self.meant(m, said) for m in p.finditer(clause))), None)

    def negated(self, patterns: Iterable[re.Pattern[str]], clause: str, said: str = "") -> bool:
        """Whether a pattern matches in the clause only as negated: the clause denies objecting."""
        return any(not self.meant(m, said) for p in patterns for m in p.finditer(clause))


def _set_apart(said: str, negation: str, word: str) -> bool:
    """The written utterance has punctuation between the negation and the next word."""
    return re.search(rf"(?<!\w){re.escape(negation)}\s*[,;:–—-]+\s*{re.escape(word)}(?!\w)", said) is not None


PLAIN = Wording()
