"""What the threshold's trade-off costs (fitting.WRONG_COST: a wrong passage shown counts as this many right ones):
dev + train calibration rows as `faqbot eval --fit` fits on, 5 folds x 3 assignments, the threshold chosen on the
training folds at each cost. Dev only. Not imported by faqbot, not tested.

Results (2026-11-28, the shipped model):
| wrong cost | answered-right | precision | unanswerable withheld | answerable withheld | wrong answers that are a wrong passage of an answerable question |
|---|---|---|---|---|---|
| 1 | 0.822 | 0.884 | 0.907 | 0.109 | 0.64 |
| **2 (shipped)** | **0.792** | **0.902** | **0.936** | **0.148** | **0.69** |
| 3 | 0.764 | 0.911 | 0.946 | 0.184 | 0.70 |
| 4 | 0.755 | 0.912 | 0.946 | 0.195 | 0.69 |
| 6 | 0.620 | 0.919 | 0.959 | 0.342 | 0.69 |
| 9 | 0.487 | 0.942 | 0.984 | 0.490 | 0.79 |
No threshold reaches precision 0.95 on dev: about 70% of the wrong answers shown are a confident wrong passage of the
right page for a question the page does answer (a ranking miss), not an unanswerable question shown an answer.
"""
import sys
from pathlib import Path

import numpy as np

import faqbot.evaluation.fitting as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cv_folds import fitted_calibration_rows  # noqa: E402

ans, x, y, scored, answerable = fitted_calibration_rows()
for cost in (1.0, 2.0, 3.0, 4.0, 6.0, 9.0):
    rights, prec, withheld, withheld_answerable, wrong_passage = [], [], [], [], []
    for seed in (0, 1, 2):
        folds = np.random.default_rng(seed).permutation(len(y)) % 5
        p, t = np.zeros(len(y)), np.zeros(len(y))
        for f in range(5):
            tr, te = folds != f, folds == f
            w, b = F.fit_logistic(x[tr], y[tr])
            t[te] = F.utility_threshold(list(1 / (1 + np.exp(-(x[tr] @ w + b)))), [bool(v) for v in y[tr]], cost)
            p[te] = 1 / (1 + np.exp(-(x[te] @ w + b)))
        shown = p >= t
        rights.append((shown & (y == 1) & answerable).sum() / answerable.sum())
        prec.append((shown & (y == 1)).sum() / max(1, shown.sum()))
        withheld.append((~shown & ~answerable).sum() / (~answerable).sum())
        withheld_answerable.append((~shown & answerable).sum() / answerable.sum())
        wrong_passage.append((shown & (y == 0) & answerable).sum() / max(1, (shown & (y == 0)).sum()))
    print(f"wrong cost {cost:3.0f}: answered-right {np.mean(rights):.3f}  precision {np.mean(prec):.3f}  "
          f"unanswerable withheld {np.mean(withheld):.3f}  answerable withheld {np.mean(withheld_answerable):.3f}  "
          f"wrong answers that are a wrong passage for an answerable question {np.mean(wrong_passage):.2f}", flush=True)
