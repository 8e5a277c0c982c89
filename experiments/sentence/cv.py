"""Ranking CV (as experiments/ranking_cv.py) with a sentence signal: the best cosine between the query and one
sentence of the candidate passage. argv: variant name(s) of /tmp/sent_vecs_<variant>.pkl; 'none' = without."""
import io, pickle, sys, copy
import numpy as np
import faqbot.evaluation.fitting as F
from faqbot.model import SIGNALS
d = pickle.load(open("/tmp/sent_cands.pkl", "rb"))
keys, devids, row_of = d["keys"], set(d["devids"]), d["row_of"]
for variant in sys.argv[1:]:
    base = copy.deepcopy(d["base"])
    sig = SIGNALS
    for part in ([] if variant == "none" else variant.split("+")):
        s = pickle.load(open(f"/tmp/sent_vecs_{part}.pkl", "rb"))
        V, owner = s["vecs"], s["owner"]
        by_row = {}
        for i, r in enumerate(owner.tolist()):
            by_row.setdefault(r, []).append(i)
        for c in base:
            col = np.array([float((V[by_row[row_of[i]]] @ c.query_vector).max()) for i in c.ids])
            c.signals = np.hstack([c.signals, col[:, None]])
        sig = sig + ("sentence_" + part,)
    F.SIGNALS = sig
    n_keys, n_sig = len(keys), len(sig)
    res = []
    for seed in (0, 1, 2):
        order = np.random.default_rng(seed).permutation(len(base))
        cands = [base[i] for i in order]
        F.fit_kinds(cands, n_keys, io.StringIO())
        folds = np.arange(len(cands)) % 5
        for l2 in (0.1, 1.0):
            hits = []
            for f in range(5):
                tr = [c for c, k in zip(cands, folds) if k != f]
                te = [c for c, k in zip(cands, folds) if k == f and c.case_id in devids]
                w = F.fit_listwise(tr, n_keys, l2)
                hits += [F._objective([c], w[:n_sig], np.r_[w[n_sig:], 0.0])[0] for c in te]
            res.append((seed, l2, np.mean(hits)))
    w = F.fit_listwise(base, n_keys, 1.0)
    print(variant, {l2: [round(float(h), 4) for s_, l, h in res if l == l2] for l2 in (0.1, 1.0)},
          "mean", {l2: round(float(np.mean([h for s_, l, h in res if l == l2])), 4) for l2 in (0.1, 1.0)},
          "weights", dict(zip(sig, np.round(w[:n_sig] / w[0], 3))), flush=True)
