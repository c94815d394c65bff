"""Fine-tune the top K encoder layers + a linear head (mean-pooled, L2-normalised embedding ->
standardised -> linear), lower layers frozen (their outputs come from cache.pt), 5-fold CV.
Head warm-started from the baseline logistic regression of the training fold.
usage: python ft_top.py K EPOCHS LR"""
import sys, time, json
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from e5torch import load, E5Torch
from common import Y, FOLD, fit_logistic, report, fmt, unit

K, EPOCHS, LR = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
HEAD_LR, BS, WD, SEED = 1e-3, 32, 0.01, 0
torch.set_num_threads(2)
cfg, W, tok = load()
base = E5Torch(cfg, W)
start = 12 - K
C = torch.load("/tmp/ft/cache.pt")
seqs, hid = C["seqs"], C["cache"][start]
lens = np.array([len(s) for s in seqs])
frozen = np.load("/tmp/ft/torch_vectors.npy").astype(np.float64)


def pad(idx):
    L = lens[idx].max()
    x = torch.zeros(len(idx), L, 384); m = torch.zeros(len(idx), L, dtype=torch.bool)
    for r, j in enumerate(idx):
        x[r, :lens[j]] = hid[j]; m[r, :lens[j]] = True
    return x, m


class Top(nn.Module):
    def __init__(self, mean, scale, w):
        super().__init__()
        import copy
        self.layers = copy.deepcopy(base.layers[start:])
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))
        self.head = nn.Linear(384, 1)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor(w[:-1], dtype=torch.float32)[None]); self.head.bias.fill_(float(w[-1]))
        self.drop = nn.Dropout(0.1)

    def forward(self, x, mask):
        am = E5Torch.amask(mask)
        for ly in self.layers:
            x = ly(x, am)
        u = F.normalize(E5Torch.pool(x, mask), dim=-1)
        return self.head(self.drop((u - self.mean) / self.scale))[:, 0]


def batches(idx, rng, shuffle):
    idx = np.array(idx)
    if shuffle:
        idx = rng.permutation(idx)
        chunks = [idx[i:i + BS * 20] for i in range(0, len(idx), BS * 20)]
        idx = np.concatenate([c[np.argsort(lens[c], kind="stable")] for c in chunks])
        bs = [idx[i:i + BS] for i in range(0, len(idx), BS)]
        return [bs[i] for i in rng.permutation(len(bs))]
    idx = idx[np.argsort(lens[idx], kind="stable")]
    return [idx[i:i + 128] for i in range(0, len(idx), 128)]


def predict(model, idx):
    model.eval(); out = np.zeros(len(idx)); pos = {j: r for r, j in enumerate(idx)}
    with torch.no_grad():
        for b in batches(idx, None, False):
            x, m = pad(b)
            p = torch.sigmoid(model(x, m)).numpy()
            for j, v in zip(b, p):
                out[pos[j]] = v
    return out


oof = np.zeros(len(Y)); log = []
t_all = time.time()
for k in range(5):
    torch.manual_seed(SEED + k); rng = np.random.default_rng(SEED + k)
    tr, te = np.where(FOLD != k)[0], np.where(FOLD == k)[0]
    # warm start: baseline logistic regression on the frozen (torch-port) embeddings of the training fold
    Xtr = unit(frozen[tr]); mean, scale = Xtr.mean(0), Xtr.std(0) + 1e-6
    lr_pred = fit_logistic(frozen[tr], Y[tr])
    # recover the LR weights in standardised space by refitting in that space (same objective)
    # the same Newton fit in the standardised space, to get the weights for the head
    feats = (Xtr - mean) / scale
    pos = Y[tr].mean(); wts = np.where(Y[tr] == 1, 0.5 / pos, 0.5 / (1 - pos))
    Fm = np.hstack([feats, np.ones((len(feats), 1))]); pen = 1e-3 * len(feats) * np.eye(385); pen[-1, -1] = 0
    w = np.zeros(385)
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(Fm @ w, -40, 40)))
        st = np.linalg.solve((Fm * (wts * p * (1 - p))[:, None]).T @ Fm + pen, Fm.T @ ((p - Y[tr]) * wts) + pen @ w); w -= st
        if np.abs(st).max() < 1e-7: break
    model = Top(mean, scale, w)
    yt = torch.tensor(Y, dtype=torch.float32); wt_all = torch.tensor(np.where(Y == 1, 0.5 / pos, 0.5 / (1 - pos)), dtype=torch.float32)
    opt = torch.optim.AdamW([{"params": model.layers.parameters(), "lr": LR},
                             {"params": model.head.parameters(), "lr": HEAD_LR}], weight_decay=WD)
    nb = int(np.ceil(len(tr) / BS)); total = EPOCHS * nb; warm = int(0.1 * total)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / max(warm, 1), max(0.0, (total - s) / max(total - warm, 1))))
    t0 = time.time()
    for ep in range(EPOCHS):
        model.train(); tl = 0
        for b in batches(tr, rng, True):
            x, m = pad(b)
            loss = (F.binary_cross_entropy_with_logits(model(x, m), yt[b], reduction="none") * wt_all[b]).mean()
            opt.zero_grad(); loss.backward(); opt.step(); sched.step(); tl += loss.item() * len(b)
        ep_s = time.time() - t0
        print(f"fold {k} epoch {ep} train loss {tl / len(tr):.4f} ({ep_s:.0f}s)", flush=True)
    train_s = time.time() - t0
    oof[te] = predict(model, te)
    from common import roc_auc
    a = roc_auc(Y[te], oof[te]); a0 = roc_auc(Y[te], lr_pred(frozen[te]))
    print(f"fold {k}: held-out AUC {a:.4f} (warm-start LR {a0:.4f}), train {train_s:.0f}s", flush=True)
    log.append({"fold": k, "auc": a, "auc_lr_start": a0, "train_s": train_s})
    if k == 0:
        torch.save(model.state_dict(), f"/tmp/ft/ft_top{K}_fold0.pt")
dt = time.time() - t_all
name = f"ft_top{K}"
np.save(f"/tmp/ft/oof_{name}.npy", oof)
res = report(f"{name} (ep{EPOCHS}, lr{LR:g})", oof, {"train_s": dt, "folds": log})
print(fmt(res), f"\n    total wall {dt:.0f}s")
json.dump(res, open(f"/tmp/ft/results_{name}.json", "w"), indent=1, default=float)
