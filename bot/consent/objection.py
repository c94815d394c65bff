"""Objection detection: does this utterance (spoken or typed) mean "stop, I do not consent"?

The rules live in announcements/<language>.toml under [objection], where a
clinician can read and extend them. Text is normalized (lower case, Unicode
NFC, typographic apostrophes folded, punctuation removed, accents kept) and then:

1. `whole` patterns must match the entire utterance ("stop", "stop it", "para ya");
2. `not_objection` patterns are cut out of the text first, so that "I don't
   mind being recorded" never counts, while "I don't mind, but turn the AI
   off" still does;
3. `patterns` (and, with sensitivity "cautious", also `cautious_patterns`) may
   match anywhere in what is left.

Patterns require both an intent (don't want, stop, turn off, leave, no consent…)
and a target (recording, transcribing, the AI / bot / assistant, this), which is
how "I don't want to go to work" stays a non-objection.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.config import ConfigError

Sensitivity = Literal["balanced", "cautious"]
_PUNCTUATION = re.compile(r"[^\w\s']")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text).lower().translate(_APOSTROPHES)
    text = _PUNCTUATION.sub(" ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class ObjectionRules:
    language: str
    whole: tuple[re.Pattern[str], ...]
    patterns: tuple[re.Pattern[str], ...]
    cautious_patterns: tuple[re.Pattern[str], ...]
    not_objection: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class Decision:
    objection: bool
    language: str
    rule: str | None = None  # which pattern decided (a rule, never the text)


def _compile(path: Path, key: str, sources: object) -> tuple[re.Pattern[str], ...]:
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ConfigError(f"{path}: objection.{key} must be a list of strings. Fix: compare with announcements/en.toml.")
    compiled = []
    for source in sources:
        try:
            compiled.append(re.compile(source))
        except re.error as exc:
            raise ConfigError(f"{path}: objection.{key}: bad pattern {source!r} ({exc}). Fix: correct the regular expression.") from None
    return tuple(compiled)


def load_rules(directory: Path, language: str) -> ObjectionRules:
    path = directory / f"{language}.toml"
    try:
        section = tomllib.loads(path.read_text(encoding="utf-8")).get("objection")
    except FileNotFoundError:
        raise ConfigError(f"no announcements file for {language!r} ({path}).") from None
    if not isinstance(section, dict) or not section.get("patterns"):
        raise ConfigError(f"{path}: no [objection] patterns. Fix: add them (see announcements/en.toml).")
    unknown = set(section) - {"whole", "patterns", "cautious_patterns", "not_objection"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) objection.{', objection.'.join(sorted(unknown))}. Fix: remove them.")
    return ObjectionRules(
        language=language,
        whole=_compile(path, "whole", section.get("whole", [])),
        patterns=_compile(path, "patterns", section["patterns"]),
        cautious_patterns=_compile(path, "cautious_patterns", section.get("cautious_patterns", [])),
        not_objection=_compile(path, "not_objection", section.get("not_objection", [])),
    )


class ObjectionDetector:
    """Checks utterances against the rules of the session's language, plus those of
    the language the utterance was recognised in (people switch languages)."""

    def __init__(self, directory: Path, session_language: str, sensitivity: Sensitivity = "cautious") -> None:
        self._directory = directory
        self.session_language = session_language
        self.sensitivity = sensitivity
        self._rules: dict[str, ObjectionRules] = {session_language: load_rules(directory, session_language)}

    def _rules_for(self, language: str | None) -> list[ObjectionRules]:
        rules = [self._rules[self.session_language]]
        if language and language != self.session_language:
            if language not in self._rules and (self._directory / f"{language}.toml").is_file():
                self._rules[language] = load_rules(self._directory, language)
            if language in self._rules:
                rules.append(self._rules[language])
        return rules

    def check(self, text: str, language: str | None = None) -> Decision:
        normalized = normalize(text)
        for rules in self._rules_for(language):
            decision = self._check(normalized, rules)
            if decision.objection:
                return decision
        return Decision(False, language or self.session_language)

    def _check(self, text: str, rules: ObjectionRules) -> Decision:
        for pattern in rules.whole:
            if pattern.fullmatch(text):
                return Decision(True, rules.language, pattern.pattern)
        for pattern in rules.not_objection:
            text = pattern.sub(" | ", text)
        candidates = rules.patterns + (rules.cautious_patterns if self.sensitivity == "cautious" else ())
        for pattern in candidates:
            if pattern.search(text):
                return Decision(True, rules.language, pattern.pattern)
        return Decision(False, rules.language)
