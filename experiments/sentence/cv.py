"""Ranking CV (as experiments/ranking_cv.py) with a sentence signal: the best cosine between the query and one
sentence of the candidate passage. argv: variant name(s) of /tmp/sent_vecs_<variant>.pkl; 'none' = without."""
import copy, pickle, sys
from pathlib import Path
import numpy as np
import faqbot.evaluation.fitting as F
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cv_folds import dev_cv, summary
from faqbot.model import SIGNALS
d = pickle.load(open("/tmp/sent_cands.pkl", "rb"))
keys, devids, row_of = d["keys"], set(d["devids"]), d["row_of"]
# the candidates' columns as collected (a tree before the sentence signals had the first seven); the sentence ones dropped
names = d.get("signals", SIGNALS[:7])
plain = [i for i, n in enumerate(names) if not n.startswith("sentence")]
for c in d["base"]:
    c.signals = c.signals[:, plain]
for variant in sys.argv[1:]:
    base = copy.deepcopy(d["base"])
    sig = tuple(names[i] for i in plain)
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
    res = dev_cv(base, len(keys), devids, sig)
    w = F.fit_listwise(base, len(keys), 1.0)
    print(variant, summary(res), "weights", dict(zip(sig, np.round(w[: len(sig)] / w[0], 3))), flush=True)
