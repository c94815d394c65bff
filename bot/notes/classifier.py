"""Section classifier: similarity of note units to a template's section examples."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.notes.embedding import Embedder, TfidfEmbedder, embed_examples
from bot.notes.sections_model import CLASSES, LANGUAGES, TEMPLATES, LearnedSections
from bot.notes.templates import Template

@dataclass(frozen=True)
class Anchors:
    vectors: np.ndarray  # (n_anchors, dim), centred and re-normalised
    section: np.ndarray  # section index per anchor; -1 for small talk
    n_sections: int
    centre: np.ndarray  # mean anchor embedding: removing it spreads e5's compressed cosines


def _centred(vectors: np.ndarray, centre: np.ndarray) -> np.ndarray:
    shifted = vectors - centre
    norms = np.linalg.norm(shifted, axis=1, keepdims=True)
    return shifted / np.where(norms == 0, 1.0, norms)


class SectionClassifier:
    """Similarity of units to a template's section examples; anchor embeddings cached per template."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._cache: dict[tuple[str, ...], Anchors] = {}
        self._lock = threading.Lock()

    def anchors(self, template: Template) -> Anchors:
        texts = [e for s in template.sections for e in s.examples] + list(template.ignore_examples)
        key = tuple(texts) + tuple(str(len(s.examples)) for s in template.sections)
        with self._lock:
            if isinstance(self.embedder, TfidfEmbedder) and self.embedder.fitted_on != key:
                # a lexical model's vocabulary comes from the template: refit, and forget other templates
                self.embedder.fit(texts)
                self.embedder.fitted_on = key
                self._cache.clear()
            if key not in self._cache:
                labels = [i for i, s in enumerate(template.sections) for _ in s.examples]
                labels += [-1] * len(template.ignore_examples)
                # a template's examples are configuration, not session content: their vectors come from the
                # disk cache after the first process, which saves the first note of every process ~0.5 s
                vectors = embed_examples(self.embedder, texts)
                centre = vectors.mean(axis=0) if self.embedder.centre else np.zeros(vectors.shape[1], np.float32)
                if self.embedder.centre:
                    vectors = _centred(vectors, centre)
                self._cache[key] = Anchors(vectors, np.asarray(labels), len(template.sections), centre)
            return self._cache[key]

    def embed_and_score(self, template: Template, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Embed `texts` (after the anchors, which a lexical model must be fitted on) and score them."""
        self.anchors(template)
        return self.scores(template, self.embedder.embed(texts))

    def scores(self, template: Template, unit_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(units × sections) similarity — mean of the two best examples — and the small-talk similarity."""
        anchors = self.anchors(template)
        units = _centred(unit_vectors, anchors.centre) if self.embedder.centre else unit_vectors
        sims = units @ anchors.vectors.T
        per_section = np.full((len(unit_vectors), anchors.n_sections), -1.0, dtype=np.float32)
        for k in range(anchors.n_sections):
            per_section[:, k] = _top2_mean(sims[:, anchors.section == k])
        ignore_columns = sims[:, anchors.section == -1]
        ignore = _top2_mean(ignore_columns) if ignore_columns.shape[1] else np.full(len(unit_vectors), -1.0)
        return per_section, ignore


def _top2_mean(matrix: np.ndarray) -> np.ndarray:
    if matrix.shape[1] == 1:
        return matrix[:, 0]
    top = np.partition(matrix, -2, axis=1)[:, -2:]
    return top.mean(axis=1)


@dataclass(frozen=True)
class LearnedColumns:
    """How the learned model's classes meet a template: the section index per class (-1 for "none"),
    and which classes the anchors decide (too few training labels)."""

    section: np.ndarray
    anchored: np.ndarray  # bool per class
    threshold: float


def learned_columns(learned: LearnedSections | None, template: Template, embedder: Embedder) -> LearnedColumns | None:
    """The learned model's classes on this template, where it was trained for this template, language
    and embedder; None otherwise (the anchors place every unit). A template overridden with other
    section keys falls back to the anchors too."""
    if learned is None or template.name not in TEMPLATES or template.language not in LANGUAGES \
            or embedder.name != learned.embedder:
        return None
    keys = [section.key for section in template.sections]
    if sorted(keys) != sorted(c for c in CLASSES if c != "none"):
        return None
    classes = learned.model.classes
    return LearnedColumns(np.array([keys.index(c) if c in keys else -1 for c in classes]),
                          np.array([c in learned.anchor_classes for c in classes]), learned.threshold)


def place(anchor_scores: np.ndarray, ignore: float, embedder: Embedder, learned: np.ndarray | None,
          columns: LearnedColumns | None) -> tuple[int, float] | None:
    """A unit's section and its ranking score, or None to leave it out.

    `anchor_scores` are already masked by the speaker's role (-1 where the role cannot feed a section).
    Where the learned model is confident (its probability reaches the threshold), the speaker may feed
    its class and the class is not one the anchors decide, its class decides, "none" included;
    otherwise the anchors do (always where they chose a class they decide). With the learned model
    on, units are ranked (for a section's `max_statements`) by its probability of their section, so
    that the two rules share one scale. Mirrored, for tuning, by `bot.notes.train_sections.combine`."""
    k = int(np.argmax(anchor_scores))
    best = float(anchor_scores[k])
    anchored = best >= embedder.min_similarity and best >= ignore + embedder.margin
    if learned is None or columns is None:
        return (k, best) if anchored else None
    class_of_k = int(np.flatnonzero(columns.section == k)[0])
    c = int(np.argmax(learned))
    target = int(columns.section[c])
    if (learned[c] >= columns.threshold and not columns.anchored[c] and (target == -1 or anchor_scores[target] > -1.0)
            and not (anchored and columns.anchored[class_of_k])):
        return None if target == -1 else (target, float(learned[c]))
    return (k, float(learned[class_of_k])) if anchored else None
