import json, numpy as np
from pathlib import Path
from bot.config import REPO_ROOT
from bot.consent.semantic import example_files, labelled_examples, load_examples, meaning_embedder
from bot.notes.embedding import embed_examples
ann = REPO_ROOT / "bot" / "data" / "announcements"
paths = example_files(ann)
texts, label = labelled_examples(paths)
language_of = {t: p.stem for p in paths for t in sum(load_examples(p), [])}
fold = np.random.default_rng(0).integers(0, 5, len(texts))
emb = meaning_embedder()
vec = embed_examples(emb, texts)
np.save("/tmp/ft/frozen_vectors.npy", vec)
with open("/tmp/ft/examples.jsonl", "w") as f:
    for t, l, k in zip(texts, label, fold):
        f.write(json.dumps({"text": t, "label": int(l), "language": language_of[t], "fold": int(k)}, ensure_ascii=False) + "\n")
print(len(texts), int(label.sum()), vec.shape)
