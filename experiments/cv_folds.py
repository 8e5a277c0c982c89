"""The dev ranking CV the experiments share: listwise fit with the out-of-fold kind signal, 5 folds x 3 fold
assignments over dev + train candidates, dev cases scored. Not imported by faqbot, not tested."""
import io

import numpy as np

import faqbot.evaluation.fitting as F


def dev_cv(base, n_keys, devids, signals, l2s=(0.1, 1.0)):
    """{L2: [hit@1 of dev cases, one per fold assignment]} with candidates' columns named `signals`."""
    F.SIGNALS = signals  # the fitting reads the signal names (regularisation, start) from its module
    n_sig = len(signals)
    res = {l2: [] for l2 in l2s}
    for seed in (0, 1, 2):
        order = np.random.default_rng(seed).permutation(len(base))
        cands = [base[i] for i in order]
        F.fit_kinds(cands, n_keys, io.StringIO())
        folds = np.arange(len(cands)) % 5
        for l2 in l2s:
            hits = []
            for f in range(5):
                tr = [c for c, k in zip(cands, folds) if k != f]
                te = [c for c, k in zip(cands, folds) if k == f and c.case_id in devids]
                w = F.fit_listwise(tr, n_keys, l2)
                hits += [F._objective([c], w[:n_sig], np.r_[w[n_sig:], 0.0])[0] for c in te]
            res[l2].append(round(float(np.mean(hits)), 4))
    return res


def summary(res):
    return " ".join(f"L2 {l2}: {np.mean(h):.4f} {h}" for l2, h in res.items())
