"""Calibration CV with folds by page (every case of a page in one fold) against random folds: how the confidence
holds on pages it was not fitted on (heldout-pages' answered precision is 0.82, test's 0.90). Dev + train rows as
`faqbot eval --fit` calibrates on; each feature left out in turn. Not imported by faqbot, not tested.

Caution: the rows' asks_covered column holds the aspect model's log-odds from folds by case, so a page's other
questions trained the value; folds by page here are optimistic for that feature (experiments/aspect_off_page.py
recomputes it by page). Results (2026-11-28): random folds AUC 0.917, answered-right 0.792, precision 0.902,
unanswerable withheld 0.936; page folds 0.913 / 0.785 / 0.895 / 0.930. Leaving out margin (0.899) or
asks_covered (0.893) costs most; no feature's removal helps by more than noise.
"""
import sys
from pathlib import Path

import numpy as np

from faqbot.model import FEATURES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cv_folds import calibration_cv, fitted_calibration_rows, page_fold_sets  # noqa: E402

ans, x, y, scored, answerable = fitted_calibration_rows()
print(len({o.case.doc_id for o in scored}), "pages;", len(y), "rows")
pages = page_fold_sets(scored)
calibration_cv(lambda tr, te: (x[tr], x[te]), y, answerable, "random folds, all features")
calibration_cv(lambda tr, te: (x[tr], x[te]), y, answerable, "page folds, all features", pages)
for name in FEATURES:
    keep = [i for i, f in enumerate(FEATURES) if f != name]
    calibration_cv(lambda tr, te: (x[tr][:, keep], x[te][:, keep]), y, answerable, f"page folds, without {name}", pages)
