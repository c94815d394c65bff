"""Salience: how likely a drafted statement's words are to be in the clinician's own note.

A ridge regression over the unit's e5 embedding (the vector the section classifier already
computed) and a few facts about the statement (who said it, whether it answers a question, whether
it was restated or had to be quoted, its length, digits, where in the session it was said, and how
often clinicians' notes keep its words: `WordPrior`, counted on the training visits).
Trained by `python -m bot.notes.train_salience` on ACI-BENCH's training split, the target being
the share of a statement's words that the visit's reference note uses; weights ship in
bot/data/sections/ with their provenance JSON (data, seed, sha256, the length ratio chosen by
cross-validation on the training split). numpy only: one dot product per statement. The note's
length budget (`bot.notes.budget`) keeps the most salient statements.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.notes.paraphrase import stem_en
from bot.notes.sections_model import SECTIONS_DIR, file_sha256
from bot.notes.text import words

MODEL_PATH = SECTIONS_DIR / "salience.en.npz"
EXTRA_FEATURES = ("clinician", "client", "answer", "quoted", "log_words", "digits", "position", "position_sq",
                  "word_prior_mean", "word_prior_low")
PRIOR_SMOOTHING = 2.0  # pseudo-visits pulling a rare word's prior towards the mean
LOW_PRIOR = 0.2  # a word that clinicians' notes keep this rarely is talk, not content


@dataclass(frozen=True)
class WordPrior:
    """Per word stem: how often a clinician's note uses a word the visit's dialogue used (across visits)."""

    values: dict[str, float]
    default: float

    @classmethod
    def count(cls, visits: Sequence[tuple[set[str], set[str]]]) -> WordPrior:
        """`visits`: (stems said, stems in the clinician's note) per visit."""
        said: dict[str, int] = {}
        kept: dict[str, int] = {}
        for dialogue, note in visits:
            for stem in dialogue:
                said[stem] = said.get(stem, 0) + 1
                kept[stem] = kept.get(stem, 0) + (stem in note)
        mean = sum(kept.values()) / max(sum(said.values()), 1)
        values = {w: (kept[w] + PRIOR_SMOOTHING * mean) / (n + PRIOR_SMOOTHING) for w, n in said.items()}
        return cls(values, mean)

    def of(self, stems: Sequence[str]) -> list[float]:
        return [self.values.get(s, self.default) for s in stems]


def stems(text: str) -> list[str]:
    return [stem_en(w) for w in words(text)]


@dataclass(frozen=True)
class StatementFacts:
    """What salience reads besides the embedding."""

    role: str | None
    answer: bool  # a short answer joined to its question
    quoted: bool  # no faithful rewrite: quoted verbatim
    words: int
    digits: bool
    position: float  # 0 at the session's start, 1 at its end
    stems: tuple[str, ...]


def facts_of(text: str, role: str | None, answer: bool, quoted: bool, position: float) -> StatementFacts:
    return StatementFacts(role, answer, quoted, len(text.split()), bool(re.search(r"\d", text)), position,
                          tuple(stems(text)))


def features(vectors: np.ndarray, facts: Sequence[StatementFacts], prior: WordPrior) -> np.ndarray:
    """(statements × features): the unit's embedding, then `EXTRA_FEATURES`."""
    rows = []
    for f in facts:
        priors = prior.of(f.stems) or [prior.default]
        rows.append([f.role == "clinician", f.role == "client", f.answer, f.quoted, math.log1p(f.words), f.digits,
                     f.position, f.position ** 2, sum(priors) / len(priors),
                     sum(p < LOW_PRIOR for p in priors) / len(priors)])
    extra = np.array(rows, dtype=np.float32).reshape(len(facts), -1)
    if len(facts) == 0:
        return np.zeros((0, vectors.shape[1] + len(EXTRA_FEATURES)), dtype=np.float32)
    return np.hstack([vectors.astype(np.float32), extra])


@dataclass(frozen=True)
class SalienceModel:
    weights: np.ndarray  # (features,)
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    prior: WordPrior

    def predict(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        return ((x - self.mean) / self.scale) @ self.weights + self.bias

    def save(self, path: Path) -> None:
        vocabulary = sorted(self.prior.values)
        np.savez_compressed(path, weights=self.weights.astype(np.float32), bias=np.array([self.bias], np.float32),
                            mean=self.mean.astype(np.float32), scale=self.scale.astype(np.float32),
                            prior_words=np.array(vocabulary, dtype=str),
                            prior_values=np.array([self.prior.values[w] for w in vocabulary], np.float32),
                            prior_default=np.array([self.prior.default], np.float32))

    @classmethod
    def load(cls, path: Path) -> SalienceModel:
        with np.load(path, allow_pickle=False) as data:
            prior = WordPrior(dict(zip((str(w) for w in data["prior_words"]), (float(v) for v in data["prior_values"]),
                                       strict=True)), float(data["prior_default"][0]))
            return cls(data["weights"], float(data["bias"][0]), data["mean"], data["scale"], prior)


def fit(x: np.ndarray, y: np.ndarray, alpha: float, prior: WordPrior) -> SalienceModel:
    """Ridge regression, closed form on standardised features (deterministic: no seed needed)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-3
    z = ((x - mean) / scale).astype(np.float64)
    target = y - y.mean()
    weights = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ target)
    return SalienceModel(weights.astype(np.float32), float(y.mean()), mean.astype(np.float32),
                         scale.astype(np.float32), prior)


@dataclass(frozen=True)
class LearnedSalience:
    model: SalienceModel
    embedder: str  # the vectors it reads
    length_ratio: float  # the note's word budget per transcript word, chosen with it
    sha256: str


_LOADED: dict[Path, LearnedSalience | None] = {}
_LOCK = threading.Lock()


def load_salience(path: Path = MODEL_PATH) -> LearnedSalience | None:
    """The packaged model, once per process; None where it or its provenance is missing or they disagree."""
    with _LOCK:
        if path not in _LOADED:
            _LOADED[path] = _read(path)
        return _LOADED[path]


def _read(path: Path) -> LearnedSalience | None:
    provenance_path = path.with_suffix(".json")
    if not path.is_file() or not provenance_path.is_file():
        return None
    provenance = json.loads(provenance_path.read_text(encoding="utf-8"))
    digest = file_sha256(path)
    if digest != provenance.get("sha256") or tuple(provenance.get("extra_features", ())) != EXTRA_FEATURES:
        return None
    return LearnedSalience(SalienceModel.load(path), str(provenance["embedder"]), float(provenance["length_ratio"]),
                           digest)
