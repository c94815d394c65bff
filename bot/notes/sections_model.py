"""Learned section model: a small softmax regression over a note unit's e5 embedding and its context.

Trained by `python -m bot.notes.train_sections` on ACI-BENCH training visits (labels from aligning
each clinician-note sentence with the transcript units — the sentences the generator classifies —
it rests on); weights ship in bot/data/sections/ with their provenance JSON (data, seed, sha256,
the confidence threshold tuned on the training split). numpy only, CPU only: a note costs one
matrix multiply. Classes are the `progress` template's section keys plus "none" (a unit no note
sentence rests on)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.resources import packaged

SECTIONS_DIR = packaged("sections")
MODEL_PATH = SECTIONS_DIR / "progress.en.npz"
CLASSES = ("focus", "interventions", "progress", "plan", "none")
TEMPLATES = ("progress",)  # the templates whose section keys the classes are (others stay on anchors)
LANGUAGES = ("en",)  # trained and measured on English visits only

# ACI-BENCH note headers → progress-template sections. History and the client's report feed the
# session focus; examination, vitals and results are what the clinician did or measured; the
# assessment is the clinician's view of the problem and its course; plan and instructions are next steps.
HEADER_SECTION = {
    "CHIEF COMPLAINT": "focus", "HISTORY OF PRESENT ILLNESS": "focus", "REVIEW OF SYSTEMS": "focus",
    "SOCIAL HISTORY": "focus", "MEDICAL HISTORY": "focus", "PAST HISTORY": "focus", "FAMILY HISTORY": "focus",
    "SURGICAL HISTORY": "focus", "MEDICATIONS": "focus", "CURRENT MEDICATIONS": "focus", "ALLERGIES": "focus",
    "PHYSICAL EXAM": "interventions", "PHYSICAL EXAMINATION": "interventions", "EXAM": "interventions",
    "VITALS": "interventions", "VITALS REVIEWED": "interventions", "RESULTS": "interventions",
    "PROCEDURE": "interventions",
    "ASSESSMENT": "progress", "IMPRESSION": "progress",
    "ASSESSMENT AND PLAN": "plan", "PLAN": "plan", "INSTRUCTIONS": "plan",
}
_HEADER = re.compile(r"^\s*([A-Z][A-Z /&]+?)\s*:?\s*$")


def note_sentences(note: str) -> list[tuple[str, str]]:
    """(section key, sentence) for every sentence under a mapped header; unmapped headers are skipped."""
    out: list[tuple[str, str]] = []
    section: str | None = None
    for line in note.splitlines():
        match = _HEADER.match(line)
        if match:
            section = HEADER_SECTION.get(match.group(1).strip())
            continue
        if section is None or not line.strip():
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", line.strip().lstrip("-• ").strip()):
            if len(sentence.split()) >= 3:
                out.append((section, sentence))
    return out


def features(vectors: np.ndarray, roles: Sequence[str | None]) -> np.ndarray:
    """Per unit: its embedding, the previous and next units' embeddings, speaker role, relative position."""
    n = len(vectors)
    if n == 0:
        return np.zeros((0, 3 * vectors.shape[1] + 4), dtype=np.float32)
    zero = np.zeros((1, vectors.shape[1]), dtype=np.float32)
    previous = np.concatenate([zero, vectors[:-1]])
    following = np.concatenate([vectors[1:], zero])
    role = np.array([[r == "clinician", r == "client"] for r in roles], dtype=np.float32)
    position = np.arange(n, dtype=np.float32) / max(n - 1, 1)
    columns = [vectors, previous, following, role, position[:, None], (position ** 2)[:, None]]
    return np.hstack(columns).astype(np.float32)


@dataclass(frozen=True)
class SectionModel:
    weights: np.ndarray  # (features, classes)
    bias: np.ndarray  # (classes,)
    mean: np.ndarray  # feature standardisation
    scale: np.ndarray
    classes: tuple[str, ...] = CLASSES

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        logits = ((x - self.mean) / self.scale) @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, weights=self.weights.astype(np.float32), bias=self.bias.astype(np.float32),
                            mean=self.mean.astype(np.float32), scale=self.scale.astype(np.float32),
                            classes=np.array(self.classes))

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> SectionModel:
        with np.load(path, allow_pickle=False) as data:
            classes = tuple(str(c) for c in data["classes"])
            return cls(data["weights"], data["bias"], data["mean"], data["scale"], classes)


def fit(x: np.ndarray, y: np.ndarray, seed: int = 13, epochs: int = 400, l2: float = 1e-2,
        learning_rate: float = 0.1) -> SectionModel:
    """Softmax regression by full-batch gradient descent; class-balanced; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-3
    z = (x - mean) / scale
    k = len(CLASSES)
    w = rng.normal(0.0, 0.01, (x.shape[1], k)).astype(np.float32)
    b = np.zeros(k, dtype=np.float32)
    onehot = np.eye(k, dtype=np.float32)[y]
    counts = np.bincount(y, minlength=k).astype(np.float32)
    sample_weight = (len(y) / (k * np.maximum(counts, 1.0)))[y][:, None]
    for _ in range(epochs):
        logits = z @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        grad = (p - onehot) * sample_weight / len(y)
        w -= learning_rate * (z.T @ grad + l2 * w)
        b -= learning_rate * grad.sum(axis=0)
    return SectionModel(w, b, mean, scale)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class LearnedSections:
    """The shipped model with what it was trained for: the embedder whose vectors it reads and the
    probability from which its section is trusted over the anchors', and the classes it saw too few
    labels of to decide (the anchors do)."""

    model: SectionModel
    embedder: str
    threshold: float
    sha256: str
    anchor_classes: frozenset[str] = frozenset()

    def predict(self, vectors: np.ndarray, roles: Sequence[str | None]) -> np.ndarray:
        """(units × classes) probabilities; `vectors` are the units' embeddings in transcript order."""
        return self.model.probabilities(features(vectors, roles))


_LOADED: dict[Path, LearnedSections | None] = {}
_LOAD_LOCK = threading.Lock()


def load_learned(path: Path = MODEL_PATH) -> LearnedSections | None:
    """The packaged model and its provenance, once per process; None where either is missing or the
    weights are not the ones the provenance describes (then the anchors place every unit)."""
    with _LOAD_LOCK:
        if path not in _LOADED:
            _LOADED[path] = _read(path)
        return _LOADED[path]


def _read(path: Path) -> LearnedSections | None:
    provenance_path = path.with_suffix(".json")
    if not path.is_file() or not provenance_path.is_file():
        return None
    provenance = json.loads(provenance_path.read_text(encoding="utf-8"))
    digest = file_sha256(path)
    if digest != provenance.get("sha256") or tuple(provenance.get("classes", ())) != CLASSES:
        return None
    return LearnedSections(SectionModel.load(path), str(provenance["embedder"]), float(provenance["threshold"]), digest,
                           frozenset(provenance.get("anchor_classes", ())))
