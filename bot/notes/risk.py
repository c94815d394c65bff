"""Risk-language flags: utterances quoted verbatim, by category, for the clinician.

Lexicons live in risk/<language>.toml (a clinician can read and extend them).
A flag says that something was *mentioned*: never an assessment, never acted on.
Produced only when the `risk_flags` purpose is consented.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bot.config import ConfigError
from bot.consent.objection import normalize
from bot.transcribe.segment import Segment


@dataclass(frozen=True)
class RiskFlag:
    category: str
    label: str
    quote: str  # verbatim segment text
    segment_id: str
    speaker: str
    role: str | None
    start: float
    end: float


@dataclass(frozen=True)
class Category:
    name: str
    label: str
    patterns: tuple[re.Pattern[str], ...]


def load_lexicon(directory: Path, language: str) -> list[Category]:
    path = directory / f"{language}.toml"
    if not path.is_file():
        return []
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        categories = []
        for name, entry in raw["categories"].items():
            patterns = tuple(re.compile(rf"(?<!\w)(?:{p})(?!\w)") for p in entry["patterns"])
            categories.append(Category(name, str(entry["label"]), patterns))
        return categories
    except (tomllib.TOMLDecodeError, KeyError, TypeError, re.error) as exc:
        raise ConfigError(f"{path}: not a valid risk lexicon ({exc}). Fix: compare with risk/en.toml.") from None


class RiskFlagger:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._lexicons: dict[str, list[Category]] = {}

    def _categories(self, language: str) -> list[Category]:
        if language not in self._lexicons:
            self._lexicons[language] = load_lexicon(self._directory, language)
        return self._lexicons[language]

    def flags(self, segments: list[Segment], session_language: str) -> list[RiskFlag]:
        found: list[RiskFlag] = []
        for segment in segments:
            text = normalize(segment.text)
            languages = dict.fromkeys([session_language, segment.language, "en"])
            for category in (c for language in languages for c in self._categories(language)):
                if any(p.search(text) for p in category.patterns):
                    found.append(RiskFlag(category.name, category.label, segment.text, segment.id,
                                          segment.display_name, segment.role, segment.start, segment.end))
                    break  # one flag per segment, the first category that matches
        return found
