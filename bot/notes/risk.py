"""Risk-language flags: utterances quoted verbatim, by category, for the clinician.

Two signals, either of which flags an utterance: the lexicon (risk/<language>.toml, regular
expressions) and a semantic signal (risk/<language>.examples.toml, sentence embeddings; see
bot/notes/risk_semantic.py). Both files are for a clinician to read and extend. Each flag
records which signal fired. A flag says that something was *mentioned*: never an assessment,
never acted on. Produced only when the `risk_flags` purpose is consented.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from bot.config import ConfigError
from bot.resources import lookup, where_to_copy
from bot.consent.objection import normalize
from bot.notes.embedding import Embedder, default_embedder
from bot.notes.risk_semantic import SemanticRiskSignal
from bot.transcribe.segment import Segment

Signal = Literal["lexicon", "semantic"]


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
    signal: Signal = "lexicon"  # which signal fired: a lexicon pattern, or similarity to risk examples
    similarity: float | None = None  # semantic signal only: cosine to the closest example


@dataclass(frozen=True)
class Category:
    name: str
    label: str
    patterns: tuple[re.Pattern[str], ...]


def load_lexicon(directory: Path, language: str) -> list[Category]:
    path = lookup(directory, f"{language}.toml")
    if not path.is_file():
        return []
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        categories = []
        for name, entry in raw["categories"].items():
            patterns = tuple(re.compile(rf"(?<!\w)(?:{p})(?!\w)") for p in entry["patterns"])
            categories.append(Category(name, str(entry["label"]), patterns))
        return categories
    except (tomllib.TOMLDecodeError, KeyError, TypeError, AttributeError, re.error) as exc:
        raise ConfigError(f"{path}: not a valid risk lexicon ({exc}). Fix: compare with {where_to_copy('risk/en.toml')}.") from None


class RiskFlagger:
    """Lexicon first (one flag per segment, its first matching category); the semantic signal for the rest."""

    def __init__(
        self, directory: Path, semantic: bool = True, embedder: Callable[[], Embedder] = default_embedder,
    ) -> None:
        self._directory = directory
        self._lexicons: dict[str, list[Category]] = {}
        self.semantic = SemanticRiskSignal(directory, embedder) if semantic else None

    def _categories(self, language: str) -> list[Category]:
        if language not in self._lexicons:
            self._lexicons[language] = load_lexicon(self._directory, language)
        return self._lexicons[language]

    def _label(self, category: str, session_language: str) -> str:
        for language in dict.fromkeys([session_language, "en"]):
            for known in self._categories(language):
                if known.name == category:
                    return known.label
        return f"{category.replace('_', ' ').capitalize()} mentioned"

    def flags(
        self, segments: list[Segment], session_language: str, vectors: Mapping[str, np.ndarray] | None = None,
    ) -> list[RiskFlag]:
        """Flags in transcript order. `vectors`: sentence embeddings made ahead of time (e.g. prefetched)."""
        found: dict[int, RiskFlag] = {}  # by position: ids repeat across transcripts pasted together
        for index, segment in enumerate(segments):
            text = normalize(segment.text)
            languages = dict.fromkeys([session_language, segment.language, "en"])
            for category in (c for language in languages for c in self._categories(language)):
                if any(p.search(text) for p in category.patterns):
                    found[index] = RiskFlag(category.name, category.label, segment.text, segment.id,
                                            segment.display_name, segment.role, segment.start, segment.end)
                    break  # one flag per segment, the first category that matches
        if self.semantic is not None:
            rest = [i for i in range(len(segments)) if i not in found]
            matches = self.semantic.matches([segments[i] for i in rest], session_language, vectors)
            for index, match in zip(rest, matches, strict=True):
                if match is not None:
                    segment = segments[index]
                    found[index] = RiskFlag(
                        match.category, self._label(match.category, session_language), segment.text, segment.id,
                        segment.display_name, segment.role, segment.start, segment.end, "semantic", match.similarity)
        return [found[i] for i in sorted(found)]
