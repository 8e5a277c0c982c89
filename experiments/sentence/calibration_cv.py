"""Calibration CV: the confidence's logistic model over FEATURES, with and without some of them, on the rows the fit
calibrates on (dev + train, ranked as the fit ranks them). 5 folds x 3 fold assignments: AUC, and with the threshold
chosen on the training folds (utility, as the fit), answered-and-right share and precision of the answerable rows and
the share of unanswerable rows withheld. Run from the repo root; it refits models/ranker.json as `faqbot eval --fit`."""
import sys
from pathlib import Path
import numpy as np
import faqbot.evaluation.fitting as F
from faqbot.model import FEATURES
from faqbot.settings import Settings
from faqbot.retrieval import open_answerer
from faqbot.evaluation.gold import load_gold, TRAIN_SPLIT

captured = {}
original = F.fit_logistic
def spy(x, y, l2=0.1, steps=50):
    if x.shape[1] == len(FEATURES):
        captured["x"], captured["y"] = x.copy(), y.copy()
    return original(x, y, l2, steps)
F.fit_logistic = spy
captured_outcomes = {}
orig_aspect = F.fit_aspect
def aspect_spy(answerer, scored, log):
    captured_outcomes["scored"] = scored
    return orig_aspect(answerer, scored, log)
F.fit_aspect = aspect_spy
ans = open_answerer(Settings())
dev = [c for c in load_gold(Path("eval/gold.jsonl")) if c.split == "dev" and not c.clarify]
train = load_gold(Path("eval/train.jsonl"), splits=(TRAIN_SPLIT,))
F.fit(ans, dev, log=sys.stderr, train=train)
x, y = captured["x"], captured["y"]
answerable = np.array([o.case.answerable for o in captured_outcomes["scored"]])
print("rows", len(y), "right", int(y.sum()), "answerable", int(answerable.sum()))
variants = {"all": list(FEATURES), "without sentence": [f for f in FEATURES if not f.startswith("sentence")]}
for extra in sys.argv[1:]:
    variants[f"without {extra}"] = [f for f in FEATURES if f != extra]
for name, cols in variants.items():
    idx = [FEATURES.index(f) for f in cols]
    aucs, rights, shown, wrongs, withheld_no = [], [], [], [], []
    for seed in (0, 1, 2):
        folds = np.random.default_rng(seed).permutation(len(y)) % 5
        p = np.zeros(len(y)); t = np.zeros(len(y))
        for f in range(5):
            tr, te = folds != f, folds == f
            w, b = original(x[tr][:, idx], y[tr])
            ptr = 1 / (1 + np.exp(-(x[tr][:, idx] @ w + b)))
            t[te] = F.utility_threshold(list(ptr), [bool(v) for v in y[tr]])
            p[te] = 1 / (1 + np.exp(-(x[te][:, idx] @ w + b)))
        aucs.append(F._auc(p, y))
        ans_ = p >= t
        rights.append((ans_ & (y == 1) & answerable).sum() / answerable.sum())
        shown.append((ans_ & (y == 1)).sum() / max(1, ans_.sum()))
        withheld_no.append((~ans_ & ~answerable).sum() / (~answerable).sum())
    print(f"{name:28s} AUC {np.mean(aucs):.4f} {np.round(aucs, 4)}  answered-right {np.mean(rights):.3f}  precision {np.mean(shown):.3f}  unanswerable withheld {np.mean(withheld_no):.3f}", flush=True)


# agreement features: is the top passage also the best candidate by each signal alone; how far the best other is
def agreement(o):
    sig = o.signals
    top = o.ranked[0]
    out = []
    for name in ("dense", "sentence", "sentence_pair", "lexical", "passage"):
        best_other = max((v[name] for k, v in sig.items() if k != top), default=sig[top][name])
        out += [float(sig[top][name] >= best_other), sig[top][name] - best_other]
    return out
xa = np.array([agreement(o) for o in captured_outcomes["scored"]])
for name, extra in (("agreement flags", xa[:, 0::2]), ("agreement gaps", xa[:, 1::2]), ("both", xa)):
    xx = np.hstack([x, extra])
    aucs, rights, shown, wn = [], [], [], []
    for seed in (0, 1, 2):
        folds = np.random.default_rng(seed).permutation(len(y)) % 5
        p = np.zeros(len(y)); t = np.zeros(len(y))
        for f in range(5):
            tr, te = folds != f, folds == f
            w, b = original(xx[tr], y[tr])
            ptr = 1 / (1 + np.exp(-(xx[tr] @ w + b)))
            t[te] = F.utility_threshold(list(ptr), [bool(v) for v in y[tr]])
            p[te] = 1 / (1 + np.exp(-(xx[te] @ w + b)))
        aucs.append(F._auc(p, y)); a_ = p >= t
        rights.append((a_ & (y == 1) & answerable).sum() / answerable.sum()); shown.append((a_ & (y == 1)).sum() / max(1, a_.sum()))
        wn.append((~a_ & ~answerable).sum() / (~answerable).sum())
    print(f"{name:28s} AUC {np.mean(aucs):.4f} {np.round(aucs, 4)}  answered-right {np.mean(rights):.3f}  precision {np.mean(shown):.3f}  unanswerable withheld {np.mean(wn):.3f}", flush=True)
