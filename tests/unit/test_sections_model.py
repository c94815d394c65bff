"""The learned section model: the shipped weights, their provenance, and the rule that meets the anchors.

No e5 needed: the model reads vectors, and these tests give it fixed ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.notes.classifier import LearnedColumns, learned_columns, place
from bot.notes.embedding import E5Embedder, TfidfEmbedder
from bot.notes.sections_model import (
    CLASSES, MODEL_PATH, LearnedSections, features, file_sha256, fit, load_learned, note_sentences,
)
from bot.notes.templates import load_template

E5_DIM = 384


@pytest.fixture(scope="module")
def learned() -> LearnedSections:
    model = load_learned()
    assert model is not None, "the packaged section model or its provenance is missing or does not match"
    return model


@pytest.fixture(scope="module")
def provenance() -> dict:
    return json.loads(MODEL_PATH.with_suffix(".json").read_text(encoding="utf-8"))


def test_shipped_weights_are_the_ones_the_provenance_describes(learned: LearnedSections, provenance: dict) -> None:
    assert file_sha256(MODEL_PATH) == provenance["sha256"] == learned.sha256
    assert provenance["classes"] == list(CLASSES)
    assert provenance["embedder"] == E5Embedder.name == learned.embedder
    assert provenance["command"] == "python -m bot.notes.train_sections"
    assert isinstance(provenance["seed"], int) and provenance["train_visits"] > provenance["valid_visits"] > 0
    assert learned.threshold == provenance["threshold"]
    assert learned.anchor_classes == frozenset(provenance["anchor_classes"])
    # tuned on the training split only: the tuning record names no validation figure
    assert "valid" not in json.dumps(provenance["tuning"])


def test_model_shape_and_classes(learned: LearnedSections) -> None:
    model = learned.model
    assert model.classes == CLASSES
    assert model.weights.shape == (3 * E5_DIM + 4, len(CLASSES))
    assert model.bias.shape == (len(CLASSES),)
    assert model.mean.shape == model.scale.shape == (3 * E5_DIM + 4,)
    assert np.all(model.scale > 0) and np.all(np.isfinite(model.weights))


def test_prediction_is_deterministic_and_a_distribution(learned: LearnedSections) -> None:
    vectors = np.random.default_rng(0).normal(size=(9, E5_DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    roles = ["clinician", "client", None] * 3
    first, again = learned.predict(vectors, roles), learned.predict(vectors.copy(), list(roles))
    assert first.shape == (9, len(CLASSES))
    assert np.array_equal(first, again)
    assert np.allclose(first.sum(axis=1), 1.0, atol=1e-5) and np.all(first >= 0)
    assert learned.predict(np.zeros((0, E5_DIM), np.float32), []).shape == (0, len(CLASSES))


def test_features_carry_neighbours_role_and_position() -> None:
    vectors = np.eye(3, 4, dtype=np.float32)
    x = features(vectors, ["clinician", "client", None])
    assert x.shape == (3, 3 * 4 + 4)
    assert np.array_equal(x[1, 4:8], vectors[0]) and np.array_equal(x[1, 8:12], vectors[2])  # previous, next
    assert not x[0, 4:8].any() and not x[2, 8:12].any()  # nothing before the first, after the last
    assert x[:, 12:14].tolist() == [[1, 0], [0, 1], [0, 0]]
    assert x[:, 14].tolist() == [0.0, 0.5, 1.0]


def test_fit_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 6)).astype(np.float32)
    y = rng.integers(0, len(CLASSES), 60)
    a, b = fit(x, y, seed=5, epochs=50), fit(x, y, seed=5, epochs=50)
    assert np.array_equal(a.weights, b.weights) and np.array_equal(a.bias, b.bias)


def _copy(directory: Path) -> Path:
    directory.mkdir()
    shutil.copy(MODEL_PATH.with_suffix(".json"), directory / MODEL_PATH.with_suffix(".json").name)
    return Path(shutil.copy(MODEL_PATH, directory / MODEL_PATH.name))


def test_tampered_or_missing_weights_are_not_loaded(tmp_path: Path) -> None:
    assert load_learned(_copy(tmp_path / "intact")) is not None
    tampered = _copy(tmp_path / "tampered")
    tampered.write_bytes(tampered.read_bytes() + b"\0")  # not the weights the provenance hashed
    assert load_learned(tampered) is None
    assert load_learned(tmp_path / "intact" / "missing.npz") is None


def test_note_sentences_follow_the_header_map() -> None:
    note = ("CHIEF COMPLAINT\n\nKnee pain.\n\nHISTORY OF PRESENT ILLNESS\n\nThe patient reports pain for two weeks. "
            "It is worse on stairs.\n\nPHYSICAL EXAM\n\nTenderness over the medial joint line.\n\n"
            "ASSESSMENT AND PLAN\n\nThe patient will start physical therapy twice weekly.\n\nUNMAPPED HEADER\n\n"
            "This sentence is skipped here.")
    got = note_sentences(note)
    assert [s for s, _ in got] == ["focus", "focus", "interventions", "plan"]  # "Knee pain." is under 3 words


def test_the_model_covers_the_english_progress_template_and_e5_only(learned: LearnedSections) -> None:
    e5 = type("FakeE5Name", (), {"name": E5Embedder.name})()  # only the name is read: no model is loaded
    assert learned_columns(learned, load_template("progress", "en"), e5) is not None
    assert learned_columns(learned, load_template("progress", "es"), e5) is None
    assert learned_columns(learned, load_template("soap", "en"), e5) is None
    assert learned_columns(learned, load_template("progress", "en"), TfidfEmbedder()) is None
    assert learned_columns(None, load_template("progress", "en"), e5) is None


def _columns(threshold: float = 0.4) -> LearnedColumns:
    # sections in the progress template's order: focus, interventions, progress, plan
    return LearnedColumns(np.array([0, 1, 2, 3, -1]), np.array([False, False, True, False, False]), threshold)


EMBEDDER = type("Thresholds", (), {"min_similarity": 0.12, "margin": 0.05})()


def test_place_confident_learned_class_decides() -> None:
    anchors = np.array([0.30, 0.10, 0.05, 0.20])  # the anchors say focus
    assert place(anchors, 0.0, EMBEDDER, np.array([0.1, 0.1, 0.0, 0.7, 0.1]), _columns()) == (3, 0.7)


def test_place_confident_none_leaves_the_unit_out() -> None:
    anchors = np.array([0.30, 0.10, 0.05, 0.20])
    assert place(anchors, 0.0, EMBEDDER, np.array([0.1, 0.0, 0.0, 0.1, 0.8]), _columns()) is None


def test_place_unsure_or_role_excluded_falls_back_to_the_anchors() -> None:
    anchors = np.array([0.30, 0.10, 0.05, 0.20])
    unsure = np.array([0.3, 0.1, 0.0, 0.35, 0.25])
    assert place(anchors, 0.0, EMBEDDER, unsure, _columns()) == (0, 0.3)
    client = np.array([0.30, -1.0, 0.05, 0.20])  # a client cannot feed Interventions
    assert place(client, 0.0, EMBEDDER, np.array([0.1, 0.8, 0.0, 0.1, 0.0]), _columns()) == (0, 0.1)
    assert place(np.array([0.05, 0.02, 0.01, 0.03]), 0.0, EMBEDDER, unsure, _columns()) is None  # anchors: nothing


def test_place_keeps_the_anchors_thin_class() -> None:
    anchors = np.array([0.10, 0.05, 0.35, 0.20])  # the anchors say progress, which the model barely saw
    assert place(anchors, 0.0, EMBEDDER, np.array([0.8, 0.0, 0.05, 0.1, 0.05]), _columns()) == (2, 0.05)
    assert place(anchors, 0.0, EMBEDDER, np.array([0.0, 0.0, 0.05, 0.1, 0.85]), _columns()) == (2, 0.05)


def test_place_without_a_model_is_the_anchor_rule() -> None:
    anchors = np.array([0.30, 0.10, 0.05, 0.20])
    assert place(anchors, 0.0, EMBEDDER, None, None) == (0, 0.30)
    assert place(anchors, 0.28, EMBEDDER, None, None) is None  # not clearly more than small talk
