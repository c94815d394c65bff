"""Shared data loading, baseline logistic regression and metrics for the fine-tuning measurement."""
import json
import numpy as np

ROWS = [json.loads(l) for l in open("/tmp/ft/examples.jsonl")]
TEXTS = [r["text"] for r in ROWS]
Y = np.array([r["label"] for r in ROWS], dtype=np.float64)
LANG = np.array([r["language"] for r in ROWS])
FOLD = np.array([r["fold"] for r in ROWS])
LANGS = sorted(set(LANG))
FP_TARGET = 0.01


def unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def fit_logistic(vectors, labels, l2=1e-3, standardise=True):
    """Same as bot/consent/semantic.py fit_logistic: standardise, equal class weight, L2 = l2*n (0.5*lam*|w|^2), Newton."""
    if standardise:
        vectors = unit(vectors)
        mean, scale = vectors.mean(axis=0), vectors.std(axis=0) + 1e-6
    else:
        mean, scale = np.zeros(vectors.shape[1]), np.ones(vectors.shape[1])
    feats = np.hstack([(vectors - mean) / scale, np.ones((len(vectors), 1))])
    pos = labels.mean()
    weight = np.where(labels == 1, 0.5 / pos, 0.5 / (1 - pos))
    pen = l2 * len(vectors) * np.eye(feats.shape[1]); pen[-1, -1] = 0.0
    w = np.zeros(feats.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(feats @ w, -40, 40)))
        g = feats.T @ ((p - labels) * weight) + pen @ w
        Hs = (feats * (weight * p * (1 - p))[:, None]).T @ feats + pen
        step = np.linalg.solve(Hs, g); w -= step
        if np.abs(step).max() < 1e-7:
            break

    def predict(v):
        if standardise:
            v = unit(v)
        z = ((v - mean) / scale) @ w[:-1] + w[-1]
        return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
    return predict


def roc_auc(y, s):
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s)); ranks[order] = np.arange(1, len(s) + 1)
    # average ranks for ties
    ss = s[order]; i = 0
    while i < len(ss):
        j = i
        while j + 1 < len(ss) and ss[j + 1] == ss[i]:
            j += 1
        if j > i:
            ranks[order[i:j + 1]] = (i + j + 2) / 2
        i = j + 1
    npos = (y == 1).sum(); nneg = len(y) - npos
    return (ranks[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg)


def thr_at_fp(neg_scores, target=FP_TARGET):
    """Smallest threshold t (predict positive iff score >= t) with fraction of negatives >= t at most target."""
    s = np.sort(neg_scores)[::-1]
    k = int(np.floor(target * len(s)))  # may flag at most k negatives
    if k >= len(s):
        return -np.inf
    return np.nextafter(s[k], np.inf)  # strictly above the (k+1)-th highest negative


def rates(y, s, t):
    pred = s >= t
    return pred[y == 1].mean(), pred[y == 0].mean()


def fold_thresholds(oof, per_language=False):
    """For each held-out fold k: the <=1%-FP threshold chosen on the other four folds' out-of-fold scores
    (labels of fold k are never used). Returns an array of per-item thresholds."""
    t = np.empty(len(oof))
    for k in range(5):
        tr = FOLD != k
        if per_language:
            for lg in LANGS:
                m = tr & (LANG == lg) & (Y == 0)
                t[(FOLD == k) & (LANG == lg)] = thr_at_fp(oof[m])
        else:
            t[FOLD == k] = thr_at_fp(oof[tr & (Y == 0)])
    return t


def report(name, oof, extra=None):
    out = {"method": name, "auc": roc_auc(Y, oof)}
    for key, per_lang in (("fp1", False), ("fp1_perlang", True)):
        t = fold_thresholds(oof, per_lang)
        pred = oof >= t
        out[key + "_recall"] = pred[Y == 1].mean(); out[key + "_fpr"] = pred[Y == 0].mean()
        out[key + "_bylang"] = {lg: (pred[(Y == 1) & (LANG == lg)].mean(), pred[(Y == 0) & (LANG == lg)].mean())
                                for lg in LANGS}
    tp = thr_at_fp(oof[Y == 0])  # pooled OOF (optimistic: chosen on the scored items themselves)
    out["fp1_pooled_thr"] = tp
    out["fp1_pooled_recall"], out["fp1_pooled_fpr"] = rates(Y, oof, tp)
    for t in (0.5, 0.9, 0.98):
        out[f"r@{t}"], out[f"fp@{t}"] = rates(Y, oof, t)
    if extra:
        out.update(extra)
    return out


def fmt(o):
    s = (f"{o['method']:<28} AUC {o['auc']:.4f} | <=1%FP(train-fold thr) R {o['fp1_recall']:.3f} FP {o['fp1_fpr']:.4f}"
         f" | per-lang thr R {o['fp1_perlang_recall']:.3f} FP {o['fp1_perlang_fpr']:.4f}"
         f" | pooled thr R {o['fp1_pooled_recall']:.3f} FP {o['fp1_pooled_fpr']:.4f}")
    s += "".join(f" | @{t} R {o[f'r@{t}']:.3f} FP {o[f'fp@{t}']:.4f}" for t in (0.5, 0.9, 0.98))
    s += "\n    by language (global train-fold thr): " + " ".join(
        f"{lg} R{r:.3f}/FP{f:.3f}" for lg, (r, f) in o["fp1_bylang"].items())
    s += "\n    by language (per-lang thr):          " + " ".join(
        f"{lg} R{r:.3f}/FP{f:.3f}" for lg, (r, f) in o["fp1_perlang_bylang"].items())
    return s
