"""The on-disk cache of example embeddings (risk and objection examples)."""

from __future__ import annotations

import stat
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.notes import embedding
from bot.notes.embedding import embed_examples


class CountingEmbedder:
    """A deterministic stand-in that counts calls: the cache, not the model, is under test here."""

    name = "counting-test-embedder"
    min_similarity = 0.0
    margin = 0.0
    centre = False

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded += texts
        return np.array([[len(t), t.count(" "), 1.0] for t in texts], dtype=np.float32)

    def cost(self, texts: Sequence[str]) -> list[int]:
        return [1 for _ in texts]


def test_examples_are_embedded_once_then_read_from_an_owner_only_cache(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    first = embed_examples(embedder, ["I want to die", "turn it off"], tmp_path)
    embedding._EXAMPLES.clear()  # a new process: only the disk cache is left
    again = embed_examples(embedder, ["I want to die", "turn it off"], tmp_path)
    assert embedder.embedded == ["I want to die", "turn it off"]  # the second call read the cache
    assert np.array_equal(first, again)
    (cached,) = (tmp_path / "embeddings").iterdir()
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "embeddings").stat().st_mode) == 0o700


def test_an_edited_example_list_is_embedded_again(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    embed_examples(embedder, ["one example"], tmp_path)
    embed_examples(embedder, ["one example", "a new one"], tmp_path)
    assert embedder.embedded == ["one example", "one example", "a new one"]


def test_a_damaged_cache_file_is_replaced_not_trusted(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    embed_examples(embedder, ["x y"], tmp_path)
    (cached,) = (tmp_path / "embeddings").iterdir()
    cached.write_bytes(b"not numpy")
    embedding._EXAMPLES.clear()  # as a new process would start
    assert embed_examples(embedder, ["x y"], tmp_path).shape == (1, 3)
    assert embedder.embedded == ["x y", "x y"]


def test_within_a_process_the_examples_come_from_memory(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    first = embed_examples(embedder, ["a b c"], tmp_path)
    for cached in (tmp_path / "embeddings").iterdir():
        cached.unlink()
    assert embed_examples(embedder, ["a b c"], tmp_path) is first and embedder.embedded == ["a b c"]
