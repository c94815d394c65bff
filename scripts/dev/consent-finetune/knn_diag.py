"""Diagnostic: how close are held-out items to training items? (near-duplicates across random folds)
and a k-NN cosine classifier on the frozen vectors."""
import numpy as np
from common import Y, FOLD, LANG, report, fmt
X = np.load("/tmp/ft/frozen_vectors.npy").astype(np.float64)
oof = np.zeros(len(Y)); nn_sim = np.zeros(len(Y)); nn_same = np.zeros(len(Y))
for k in range(5):
    tr, te = np.where(FOLD != k)[0], np.where(FOLD == k)[0]
    S = X[te] @ X[tr].T
    top = np.argsort(-S, axis=1)[:, :10]
    s = np.take_along_axis(S, top, 1)
    w = np.exp(s / 0.02); oof[te] = (w * Y[tr][top]).sum(1) / w.sum(1)
    nn_sim[te] = s[:, 0]; nn_same[te] = Y[tr][top[:, 0]] == Y[te]
print("nearest training neighbour cosine: median %.3f, p10 %.3f; share >=0.95: %.3f; >=0.98: %.3f" % (
    np.median(nn_sim), np.percentile(nn_sim, 10), (nn_sim >= 0.95).mean(), (nn_sim >= 0.98).mean()))
print("1-NN label agreement %.3f (objections %.3f, non-objections %.3f)" % (nn_same.mean(), nn_same[Y == 1].mean(), nn_same[Y == 0].mean()))
np.save("/tmp/ft/oof_knn10.npy", oof)
print(fmt(report("knn10 softmax (frozen)", oof)))
