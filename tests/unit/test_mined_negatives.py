"""Hard negatives mined from clinical talk (bot/consent/mined.py): what is read, a clear error for a
damaged file, and that the shipped ones come from the split the benchmark does not measure on."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bench.consent import HELD_OUT_SPLIT, MINED_SPLIT
from bot.bench.notes import load_pairs
from bot.config import DEFAULT_ANNOUNCEMENTS_DIR, ConfigError
from bot.consent.mined import dialogue_sentences, load_mined, mined_dir, write_mined
from bot.consent.objection import long_enough_to_judge
from bot.consent.semantic import example_files, labelled_examples, training_set
from bot.notes.embedding import TfidfEmbedder
from tests.conftest import data_dir
from tests.requirements import require


def test_each_turn_is_taken_whole_and_sentence_by_sentence() -> None:
    dialogue = ("[doctor] okay . can you bend your knee for me ? good , now straighten it out .\n"
                "[patient] uh , no .\n[doctor] let's stop the ibuprofen for now .")
    assert dialogue_sentences(dialogue, long_enough_to_judge) == [
        "okay . can you bend your knee for me ? good , now straighten it out .",
        "can you bend your knee for me ?", "good , now straighten it out .",
        "let's stop the ibuprofen for now .",
    ]  # "okay ." and "uh , no ." are too short for the semantic signal to judge: never mined


def test_written_sentences_read_back_once_each(tmp_path: Path) -> None:
    sentences = ['he said "stop" \\ then', "let's stop the ibuprofen for now .", "he said \"stop\" \\ then"]
    write_mined(mined_dir(tmp_path) / "en.toml", "en", "a test", 0.1, sentences)
    assert load_mined(tmp_path, ["en"]) == sentences[:2]
    assert load_mined(tmp_path, ["es"]) == []  # only the languages asked for


@pytest.mark.parametrize("content", ["non_objections = [", "non_objections = [1, 2]", "other = []"])
def test_a_damaged_file_names_itself_and_the_fix(tmp_path: Path, content: str) -> None:
    path = mined_dir(tmp_path) / "en.toml"
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"en\.toml.*Fix: regenerate it with scripts/dev/mine_clinical_negatives"):
        load_mined(tmp_path, ["en"])


def test_the_head_learns_them_as_non_objections_unless_told_not_to() -> None:
    paths = example_files(DEFAULT_ANNOUNCEMENTS_DIR)
    mined = load_mined(DEFAULT_ANNOUNCEMENTS_DIR, ["en"])
    texts, labels = labelled_examples(paths)
    embedder = TfidfEmbedder()  # lexical: fast, and enough to count rows and labels
    embedder.fit(texts + mined)
    with_mined = training_set(DEFAULT_ANNOUNCEMENTS_DIR, paths, embedder, ([], []))
    without = training_set(DEFAULT_ANNOUNCEMENTS_DIR, paths, embedder, ([], []), mined=[])
    added = len(with_mined[1]) - len(without[1])
    assert added == len(set(mined) - set(texts)) > 50
    assert not with_mined[1][-added:].any()  # all of them non-objections
    assert with_mined[1][:len(labels)].tolist() == labels.tolist()  # the examples are untouched


def test_the_shipped_negatives_come_from_the_training_split_never_the_held_out_one() -> None:
    require("data", (data_dir() / "aci-bench" / "valid.jsonl").is_file(),
            "ACI-BENCH not found; set SESSIONBOT_DATA_DIR to the shared data directory")
    mined = set(load_mined(DEFAULT_ANNOUNCEMENTS_DIR, ["en"]))
    sentences = {split: {s for pair in load_pairs(split=split) for s in dialogue_sentences(pair.dialogue,
                                                                                      long_enough_to_judge)}
                 for split in (MINED_SPLIT, HELD_OUT_SPLIT)}
    assert mined <= sentences[MINED_SPLIT]
    # The held-out split measures clinical false stops: a sentence mined from the training split that
    # also occurs there word for word ("no , not really .") would make that figure partly in-sample.
    shared = mined & sentences[HELD_OUT_SPLIT]
    assert len(shared) <= 0.05 * len(mined), f"{len(shared)} mined sentences also occur in the held-out split"
