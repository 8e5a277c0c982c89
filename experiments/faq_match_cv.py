"""Ranking CV (as experiments/sentence/cv.py, with the shipped two sentence signals) with one more signal derived
from an FAQ's question match: "the most serious side effects of trastuzumab" matches the FAQ question "What are
the most serious side effects of trastuzumab?" at 0.96 and still ranks below Common Side Effects. Dev only.

Results (2026-11-28), hit@1 of dev cases, L2 0.1 / L2 1.0 (three fold assignments each):
- shipped signals: 0.878 / 0.882
- faq * dense: 0.879 / 0.887; faq * (dense - passage): 0.878 / 0.882
- faq * max(0, dense - 0.8) (0.8 set before the run, not tuned): 0.885 (0.867 0.890 0.899) / 0.895 (0.881 0.899 0.904)
The last was built into the ranking and refitted: the fit then weighs dense at -1 against passage +2.1 and this
signal +6.2 (the weights had to be scaled by |dense| to keep the order). The calibration's dev CV
(experiments/wrong_cost.py, cost 2) went 0.792 / 0.902 / 0.936 -> 0.791 / 0.893 / 0.924 (answered-right,
precision, unanswerable withheld), the threshold 0.60 -> 0.67, and test / heldout-pages hit@1 0.903 -> 0.903,
0.890 -> 0.898, with answered-and-right down 2-3 points on both. Not kept: the ranking gain does not reach what a
visitor gets. Confirmed out of sample for the whole chain (visitor_cv.py, seeds 0 1 2): hit@1 0.906 -> 0.906,
answered-right 0.822 -> 0.813, precision 0.915 -> 0.914.
"""
import copy
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cv_folds import add_sentence_signal, dev_cv, load_candidates, summary  # noqa: E402

candidates, keys, devids, row_of, plain = load_candidates()
base0 = copy.deepcopy(candidates)
sig0 = plain + tuple(add_sentence_signal(base0, row_of, part) for part in ("bare", "pair"))
col = {n: i for i, n in enumerate(sig0)}
derived = {
    "none": None,
    "faq*dense": lambda s: s[:, col["faq"]] * s[:, col["dense"]],
    "faq*relu(dense-0.8)": lambda s: s[:, col["faq"]] * np.maximum(0.0, s[:, col["dense"]] - 0.8),
    "faq*(dense-passage)": lambda s: s[:, col["faq"]] * (s[:, col["dense"]] - s[:, col["passage"]]),
}
for name, f in derived.items():
    base = copy.deepcopy(base0)
    sig = sig0
    if f is not None:
        for c in base:
            c.signals = np.hstack([c.signals, f(c.signals)[:, None]])
        sig = sig0 + (name,)
    print(name, summary(dev_cv(base, len(keys), devids, sig)), flush=True)
