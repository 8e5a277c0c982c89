"""Dev CV of a pair feature for the confidence: a logistic regression over q * s (elementwise), s the vector of the
top passage's best sentence (either form), trained to tell a right top passage from a wrong or unanswerable one;
its out-of-fold log-odds join the calibration's features (nested folds, as the answerability model's). Rows: the
dev + train rows the fit calibrates on. Run from the repo root (nothing saved)."""
import sys
from pathlib import Path
import numpy as np
import faqbot.evaluation.fitting as F
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cv_folds import calibration_cv, fitted_calibration_rows

ans, x, y, scored, answerable = fitted_calibration_rows()
ix = ans.index
row_of = {c.chunk_id: r for r, c in enumerate(ix.chunks)}


def pair_vector(o, form):
    q = o.query_vector
    r = row_of[o.ranked[0]]
    sents = ix.sentence_vectors[form][ix.sentence_starts[r] : ix.sentence_starts[r + 1]]
    return q * sents[int(np.argmax(sents @ q))]


def oof_logits(z, yy, folds, l2):
    out = np.zeros(len(yy))
    for f in np.unique(folds):
        w, b = F.fit_logistic(z[folds != f], yy[folds != f], l2=l2)
        out[folds == f] = z[folds == f] @ w + b
    return out


calibration_cv(lambda tr, te: (x[tr], x[te]), y, answerable, "calibration as shipped")
for form, name in ((0, "alone"), (1, "paired")):
    z = np.array([pair_vector(o, form) for o in scored])
    z = (z - z.mean(0)) / (z.std(0) + 1e-9)  # standardised (the products are ~1/384 each)
    for l2 in (10.0, 30.0, 100.0, 300.0):
        def with_pair(tr, te, z=z, l2=l2):
            train_logit = oof_logits(z[tr], y[tr], np.arange(tr.sum()) % 5, l2)
            w, b = F.fit_logistic(z[tr], y[tr], l2=l2)
            return np.hstack([x[tr], train_logit[:, None]]), np.hstack([x[te], (z[te] @ w + b)[:, None]])
        calibration_cv(with_pair, y, answerable, f"+ pair model ({name}, L2 {l2})")
