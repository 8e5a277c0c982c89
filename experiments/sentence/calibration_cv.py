"""Calibration CV: the confidence's logistic model over FEATURES, with and without some of them, on the rows the fit
calibrates on (dev + train, ranked as the fit ranks them). 5 folds x 3 fold assignments: AUC, and with the threshold
chosen on the training folds (utility, as the fit), answered-and-right share and precision of the answerable rows and
the share of unanswerable rows withheld. Then agreement features beside them. Run from the repo root (nothing saved)."""
import sys
from pathlib import Path
import numpy as np
from faqbot.model import FEATURES
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cv_folds import calibration_cv, fitted_calibration_rows

ans, x, y, scored, answerable = fitted_calibration_rows()
print("rows", len(y), "right", int(y.sum()), "answerable", int(answerable.sum()))
variants = {"all": list(FEATURES), "without sentence": [f for f in FEATURES if not f.startswith("sentence")]}
for extra in sys.argv[1:]:
    variants[f"without {extra}"] = [f for f in FEATURES if f != extra]
for name, cols in variants.items():
    idx = [FEATURES.index(f) for f in cols]
    calibration_cv(lambda tr, te, idx=idx: (x[tr][:, idx], x[te][:, idx]), y, answerable, name)


# agreement features: is the top passage also the best candidate by each signal alone; how far the best other is
def agreement(o):
    sig = o.signals
    top = o.ranked[0]
    out = []
    for name in ("dense", "sentence", "sentence_pair", "lexical", "passage"):
        best_other = max((v[name] for k, v in sig.items() if k != top), default=sig[top][name])
        out += [float(sig[top][name] >= best_other), sig[top][name] - best_other]
    return out


xa = np.array([agreement(o) for o in scored])
for name, extra in (("agreement flags", xa[:, 0::2]), ("agreement gaps", xa[:, 1::2]), ("both", xa)):
    xx = np.hstack([x, extra])
    calibration_cv(lambda tr, te, xx=xx: (xx[tr], xx[te]), y, answerable, name)
