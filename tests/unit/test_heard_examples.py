"""Heard versions of the objection examples (bot/consent/heard.py): which ones the head learns from,
with which label, and a clear error for a damaged file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.config import DEFAULT_ANNOUNCEMENTS_DIR, ConfigError
from bot.consent.heard import heard_examples, heard_files, heard_set, load_heard, write_heard
from bot.consent.semantic import example_files, heard_training, labelled_examples

LABELS = {"Per favore, interrompa la trascrizione.": 1, "Ritiro il mio consenso.": 1, "Ho dormito male.": 0}


def test_a_heard_objection_is_learned_only_while_it_still_says_what_was_said() -> None:
    pairs = [
        ("Per favore, interrompa la trascrizione.", "Per famole, interrompa la trascrizione."),  # 1 of 5 words
        ("Ritiro il mio consenso.", "Il terapeuta e il mio."),  # most words lost: garble, not an objection
    ]
    kept = heard_examples(pairs, LABELS, "it")
    assert kept == {"Per famole, interrompa la trascrizione.": 1}


def test_any_heard_version_of_an_ordinary_sentence_is_learned_as_ordinary() -> None:
    kept = heard_examples([("Ho dormito male.", "La trascrizione aiuta con gli appunti.")], LABELS, "it")
    assert kept == {"La trascrizione aiuta con gli appunti.": 0}


def test_what_teaches_nothing_is_left_out() -> None:
    pairs = [
        ("Ho dormito male.", ""),  # heard nothing
        ("Ho dormito male.", "Ho dormito male."),  # heard exactly: the example already says it
        ("Una frase tolta dagli esempi.", "Una frase tolta."),  # its example is gone
        ("Ho dormito male.", "Ritiro il mio consenso."),  # an example's own label wins
    ]
    assert heard_examples(pairs, LABELS, "it") == {}


def test_a_heard_text_reached_from_both_labels_is_left_out() -> None:
    pairs = [("Per favore, interrompa la trascrizione.", "Per favore la trascrizione."),
             ("Ho dormito male.", "Per favore la trascrizione.")]
    assert heard_examples(pairs, LABELS, "it") == {}


def test_the_label_follows_the_example_not_the_file(tmp_path: Path) -> None:
    """Relabelling an example relabels its heard version: the file keeps pairs, not labels."""
    path = tmp_path / "examples" / "heard" / "it.toml"
    write_heard(path, "it", "base", 5, [("Ho dormito male.", "Ho dormito mele.")], [])
    assert heard_set(tmp_path, LABELS, ["it"]) == (["Ho dormito mele."], ["Ho dormito male."], [0])
    assert heard_set(tmp_path, {**LABELS, "Ho dormito male.": 1}, ["it"])[2] == [1]
    assert heard_set(tmp_path, LABELS, ["es"]) == ([], [], [])  # only the languages asked for


def test_written_pairs_read_back_whatever_they_contain(tmp_path: Path) -> None:
    path = tmp_path / "fr.toml"
    pairs = [('Il a dit "stop" \\ puis', "Il a dit « stop »\tpuis"), ("Ça, c'est l'IA ?", "")]
    write_heard(path, "fr", "base", 5, pairs[:1], pairs[1:])
    assert load_heard(path) == pairs


@pytest.mark.parametrize("content", ['objections = [["only one"]]\n', "objections = [\n"])
def test_a_damaged_file_names_itself_and_the_fix(tmp_path: Path, content: str) -> None:
    path = tmp_path / "de.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"de\.toml.*hear_examples\.py"):
        load_heard(path)


def test_the_shipped_heard_versions_belong_to_the_shipped_examples() -> None:
    """Every language's file is there and most of its pairs still match an example (a file left
    behind by edited examples would teach the head nothing and should be regenerated)."""
    paths = example_files(DEFAULT_ANNOUNCEMENTS_DIR)
    assert {p.stem for p in heard_files(DEFAULT_ANNOUNCEMENTS_DIR)} == {p.stem for p in paths}
    texts, labels = labelled_examples(paths)
    heard, said, heard_labels = heard_training(DEFAULT_ANNOUNCEMENTS_DIR, paths, texts, labels)
    by_text = dict(zip(texts, labels))
    assert len(heard) > 1000
    assert all(by_text[s] == label for s, label in zip(said, heard_labels))
    assert not set(heard) & set(texts)
    for path in heard_files(DEFAULT_ANNOUNCEMENTS_DIR):
        pairs = load_heard(path)
        assert np.mean([s in by_text for s, _ in pairs]) > 0.95, path.name
