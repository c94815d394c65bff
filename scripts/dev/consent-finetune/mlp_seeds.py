"""Seed spread of the MLP h256 head on frozen vectors (seeds 1, 2; seed 0 is in cheap.py)."""
import numpy as np, time
from cheap import fit_mlp, X
from common import Y, FOLD, report, fmt
for seed in (1, 2):
    t0 = time.time(); oof = np.zeros(len(Y))
    for k in range(5):
        tr, te = FOLD != k, FOLD == k
        oof[te] = fit_mlp(X[tr], Y[tr], seed=seed)(X[te])
    np.save(f"/tmp/ft/oof_mlp_h256_seed{seed}.npy", oof)
    print(fmt(report(f"mlp_h256 seed{seed}", oof)), f"\n    train {time.time() - t0:.0f}s", flush=True)
