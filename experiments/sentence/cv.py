"""Ranking CV (as experiments/ranking_cv.py) with a sentence signal: the best cosine between the query and one
sentence of the candidate passage. argv: variant name(s) of /tmp/sent_vecs_<variant>.pkl, joined by +; 'none' = without."""
import copy, sys
from pathlib import Path
import numpy as np
import faqbot.evaluation.fitting as F
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cv_folds import add_sentence_signal, dev_cv, load_candidates, summary

candidates, keys, devids, row_of, plain = load_candidates()
for variant in sys.argv[1:]:
    base = copy.deepcopy(candidates)
    sig = plain + tuple(add_sentence_signal(base, row_of, part) for part in ([] if variant == "none" else variant.split("+")))
    res = dev_cv(base, len(keys), devids, sig)
    w = F.fit_listwise(base, len(keys), 1.0)
    print(variant, summary(res), "weights", dict(zip(sig, np.round(w[: len(sig)] / w[0], 3))), flush=True)
