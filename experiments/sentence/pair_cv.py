"""Dev CV of a pair feature for the confidence: a logistic regression over q * s (elementwise), s the vector of the
top passage's best sentence (its "Title: sentence" form), trained to tell a right top passage from a wrong or
unanswerable one; its out-of-fold log-odds join the calibration's features (nested folds, as the answerability
model's). Rows: the 586 dev + train rows the fit calibrates on. Run from the repo root."""
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
orig_aspect = F.fit_aspect
def aspect_spy(answerer, scored, log):
    captured["scored"] = scored
    return orig_aspect(answerer, scored, log)
F.fit_aspect = aspect_spy
ans = open_answerer(Settings())
ix = ans.index
row_of = {c.chunk_id: r for r, c in enumerate(ix.chunks)}
dev = [c for c in load_gold(Path("eval/gold.jsonl")) if c.split == "dev" and not c.clarify]
train = load_gold(Path("eval/train.jsonl"), splits=(TRAIN_SPLIT,))
F.fit(ans, dev, log=open("/dev/null", "w"), train=train)
F.fit_logistic = original
x, y = captured["x"], captured["y"]
scored = captured["scored"]
answerable = np.array([o.case.answerable for o in scored])

def pair_vector(o, form):
    q = o.query_vector
    r = row_of[o.ranked[0]]
    a, b = ix.sentence_starts[r], ix.sentence_starts[r + 1]
    sents = ix.sentence_vectors[form][a:b]
    s = sents[int(np.argmax(sents @ q))]
    return q * s

def oof_logits(z, yy, folds, l2):
    out = np.zeros(len(yy))
    for f in np.unique(folds):
        w, b = original(z[folds != f], yy[folds != f], l2=l2)
        out[folds == f] = z[folds == f] @ w + b
    return out

def evaluate(extra_fn, label):
    aucs, rights, shown, wn = [], [], [], []
    for seed in (0, 1, 2):
        folds = np.random.default_rng(seed).permutation(len(y)) % 5
        p = np.zeros(len(y)); t = np.zeros(len(y))
        for f in range(5):
            tr, te = folds != f, folds == f
            xtr, xte = extra_fn(tr, te)
            w, b = original(xtr, y[tr])
            ptr = 1 / (1 + np.exp(-(xtr @ w + b)))
            t[te] = F.utility_threshold(list(ptr), [bool(v) for v in y[tr]])
            p[te] = 1 / (1 + np.exp(-(xte @ w + b)))
        aucs.append(F._auc(p, y)); a_ = p >= t
        rights.append((a_ & (y == 1) & answerable).sum() / answerable.sum()); shown.append((a_ & (y == 1)).sum() / max(1, a_.sum()))
        wn.append((~a_ & ~answerable).sum() / (~answerable).sum())
    print(f"{label:34s} AUC {np.mean(aucs):.4f} {np.round(aucs, 4)}  answered-right {np.mean(rights):.3f}  precision {np.mean(shown):.3f}  unanswerable withheld {np.mean(wn):.3f}", flush=True)

evaluate(lambda tr, te: (x[tr], x[te]), "calibration as shipped")
for form, name in ((0, "alone"), (1, "paired")):
    z = np.array([pair_vector(o, form) for o in scored])
    z = (z - z.mean(0)) / (z.std(0) + 1e-9)  # standardised (the products are ~1/384 each)
    for l2 in (10.0, 30.0, 100.0, 300.0):
        def with_pair(tr, te, z=z, l2=l2):
            inner = np.arange(tr.sum()) % 5
            train_logit = oof_logits(z[tr], y[tr], inner, l2)
            w, b = original(z[tr], y[tr], l2=l2)
            return np.hstack([x[tr], train_logit[:, None]]), np.hstack([x[te], (z[te] @ w + b)[:, None]])
        evaluate(with_pair, f"+ pair model ({name}, L2 {l2})")
