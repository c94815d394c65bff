"""Print the methods x metrics table from the saved out-of-fold probabilities (recomputes metrics)."""
import json, os, numpy as np
from common import report
rows = [("baseline_lr", "LR on frozen e5 (current)"), ("mlp_h256", "MLP h256 on frozen"), ("mlp_h512", "MLP h512 on frozen"),
        ("knn10", "10-NN on frozen (diagnostic)"), ("ft_top2", "FT top-2 + linear head"), ("ft_top4", "FT top-4 + linear head")]
train = {}
for f in ["results_cheap.json", "results_ft_top2.json", "results_ft_top4.json"]:
    if os.path.exists(f):
        d = json.load(open(f)); d = d if isinstance(d, list) else [d]
        for r in d: train[r["method"].split(" ")[0]] = r["train_s"]
print("| method | AUC | R@<=1%FP (thr from other folds) | FP | R (per-lang thr) | FP | R (pooled thr) | R@0.5 | FP@0.5 | R@0.9 | FP@0.9 | R@0.98 | FP@0.98 | train s |")
print("|---|" + "---|" * 13)
langs = {}
for key, name in rows:
    if not os.path.exists(f"oof_{key}.npy"): continue
    o = report(name, np.load(f"oof_{key}.npy")); langs[name] = o
    print(f"| {name} | {o['auc']:.4f} | {o['fp1_recall']:.3f} | {o['fp1_fpr']:.4f} | {o['fp1_perlang_recall']:.3f} | {o['fp1_perlang_fpr']:.4f} | {o['fp1_pooled_recall']:.3f} | "
          + " | ".join(f"{o[f'r@{t}']:.3f} | {o[f'fp@{t}']:.4f}" for t in (0.5, 0.9, 0.98)) + f" | {train.get(key, float('nan')):.0f} |")
print("\nper language, recall/FP at the <=1%FP threshold chosen on the other folds (global thr; per-language thr in brackets)")
print("| method | " + " | ".join(["de", "en", "es", "fr", "it", "pt"]) + " |"); print("|---|" + "---|" * 6)
for name, o in langs.items():
    print(f"| {name} | " + " | ".join(f"{o['fp1_bylang'][lg][0]:.3f}/{o['fp1_bylang'][lg][1]:.3f} ({o['fp1_perlang_bylang'][lg][0]:.3f}/{o['fp1_perlang_bylang'][lg][1]:.3f})" for lg in ["de", "en", "es", "fr", "it", "pt"]) + " |")
