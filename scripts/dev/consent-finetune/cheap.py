"""Baseline logistic regression and a one-hidden-layer MLP head on the frozen e5 vectors, 5-fold CV.
Writes oof_baseline_lr.npy, oof_mlp.npy and results_cheap.json."""
import json, time
import numpy as np
import torch
import torch.nn as nn
from common import Y, FOLD, fit_logistic, report, fmt, unit

torch.set_num_threads(2)
X = np.load("/tmp/ft/frozen_vectors.npy").astype(np.float64)

# --- MLP head on frozen vectors ---
def fit_mlp(Xtr, ytr, seed=0, hidden=256, epochs=60, lr=1e-3, wd=1e-2, drop=0.2, bs=64):
    torch.manual_seed(seed); rng = np.random.default_rng(seed)
    Xtr = unit(Xtr); mean, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    xt = torch.tensor((Xtr - mean) / sd, dtype=torch.float32); yt = torch.tensor(ytr, dtype=torch.float32)
    pos = ytr.mean(); wt = torch.tensor(np.where(ytr == 1, 0.5 / pos, 0.5 / (1 - pos)), dtype=torch.float32)
    net = nn.Sequential(nn.Dropout(drop), nn.Linear(xt.shape[1], hidden), nn.GELU(), nn.Dropout(drop), nn.Linear(hidden, 1))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=wd)
    steps = epochs * int(np.ceil(len(xt) / bs)); sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    net.train()
    for ep in range(epochs):
        perm = rng.permutation(len(xt))
        for i in range(0, len(xt), bs):
            b = perm[i:i + bs]
            loss = (nn.functional.binary_cross_entropy_with_logits(net(xt[b])[:, 0], yt[b], reduction="none") * wt[b]).mean()
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    net.eval()

    def predict(Xte):
        with torch.no_grad():
            return torch.sigmoid(net(torch.tensor((unit(Xte) - mean) / sd, dtype=torch.float32))[:, 0]).numpy().astype(np.float64)
    return predict



def main():
    results = []
    # --- baseline: logistic regression (as in bot/consent/semantic.py) ---
    t0 = time.time()
    oof = np.zeros(len(Y))
    for k in range(5):
        tr, te = FOLD != k, FOLD == k
        oof[te] = fit_logistic(X[tr], Y[tr])(X[te])
    dt = time.time() - t0
    np.save("/tmp/ft/oof_baseline_lr.npy", oof)
    results.append(report("baseline_lr (frozen)", oof, {"train_s": dt}))
    print(fmt(results[-1]), f"\n    train {dt:.1f}s")



    for cfg in [dict(hidden=256, epochs=60, wd=1e-2, drop=0.2), dict(hidden=512, epochs=40, wd=5e-2, drop=0.3)]:
        t0 = time.time()
        oof = np.zeros(len(Y))
        for k in range(5):
            tr, te = FOLD != k, FOLD == k
            oof[te] = fit_mlp(X[tr], Y[tr], **cfg)(X[te])
        dt = time.time() - t0
        name = f"mlp_h{cfg['hidden']}"
        np.save(f"/tmp/ft/oof_{name}.npy", oof)
        results.append(report(name + " (frozen)", oof, {"train_s": dt, "cfg": cfg}))
        print(fmt(results[-1]), f"\n    train {dt:.1f}s (5 folds)")

    json.dump(results, open("/tmp/ft/results_cheap.json", "w"), indent=1, default=float)


if __name__ == "__main__":
    main()
