import gzip, json, pickle, sys
import numpy as np
from faqbot.evaluation.fitting import fit_logistic, _auc, utility_threshold
from faqbot.model import FEATURES
sc = json.load(gzip.open(sys.argv[1], "rt")); keys = [tuple(k) for k in sc["keys"]]
outs = [o for o in pickle.load(open("/work/scratch/ce/dev_outs.pkl", "rb")) if o.signals and "two-drug" not in o.case.tags]
print("features", FEATURES)
A = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5)
def rerank(o, S, a, TOP):
    ids = sorted(o.signals, key=lambda i: -o.signals[i]["fused"])[:TOP]
    f = [o.signals[i]["fused"] + a * S[(o.case.id, i)] for i in ids]
    return ids[int(np.argmax(f))]
for name in sys.argv[2:]:
    S = dict(zip(keys, sc["scores"][name]))
    for TOP in (3, 5):
      for seed in (0, 1, 2):
        fo = np.random.default_rng(seed).permutation(len(outs)) % 5
        top, hit = [], []
        for f in range(5):
            tr = [o for o, k in zip(outs, fo) if k != f and o.case.answerable]
            best = max(A, key=lambda a: sum(rerank(o, S, a, TOP) in o.case.relevant for o in tr))
            for o, k in zip(outs, fo):
                if k == f: top.append((o, rerank(o, S, best, TOP)))
        ans = [(o, t) for o, t in top if o.case.answerable]
        h1 = np.mean([t in o.case.relevant for o, t in ans]); h0 = np.mean([max(o.signals, key=lambda i: o.signals[i]["fused"]) in o.case.relevant for o, t in ans])
        # calibration: base features (of the fused top) + CE of the chosen top
        y = np.array([float(o.case.answerable and t in o.case.relevant) for o, t in top])
        base = np.array([[o.features.get(f, 0.0) for f in FEATURES] for o, t in top])
        ce = np.array([[S[(o.case.id, t)]] for o, t in top])
        line = f"{name} top{TOP} seed{seed}: hit@1 {h0:.3f} -> {h1:.3f}"
        for xn, X in (("feat", base), ("feat+ce", np.c_[base, ce]), ("ce", ce)):
            p = np.zeros(len(y))
            for f in range(5):
                trm = fo != f; w, b = fit_logistic(X[trm], y[trm]); p[~trm] = 1 / (1 + np.exp(-(X[~trm] @ w + b)))
            t = utility_threshold(list(p), [bool(v) for v in y]); sh = p >= t
            na = sum(o.case.answerable for o, _ in top); nn = len(top) - na
            wo = sum((not o.case.answerable) and not s for (o, _), s in zip(top, sh))
            line += f" | {xn}: AUC {_auc(p, y):.3f} right {(sh & (y > 0)).sum() / na:.3f} prec {(sh & (y > 0)).sum() / max(1, sh.sum()):.3f} nop-withheld {wo / nn:.2f}"
        print(line, flush=True)
