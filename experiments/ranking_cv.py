"""Ranking CV on dev + train for a change under test: listwise fit with the out-of-fold kind signal, 5 folds x 3 fold
assignments, dev cases scored. Run before and after a change (or with an env toggle) from the repo root:
    HF_HUB_OFFLINE=1 .venv/bin/python experiments/ranking_cv.py
Used for the dense-reading choices of issue 12 (closing note, 2026-11-27). Not imported by faqbot, not tested."""
import io, sys
from pathlib import Path
import numpy as np
from faqbot.settings import Settings
from faqbot.retrieval import open_answerer
from faqbot.evaluation.gold import load_gold, TRAIN_SPLIT
from faqbot.evaluation.fitting import _collect, fit_kinds, fit_listwise, _objective
from faqbot.model import SIGNALS
ans = open_answerer(Settings()); m = ans.model
dev = [c for c in load_gold(Path("eval/gold.jsonl")) if c.split == "dev" and not c.clarify]
train = load_gold(Path("eval/train.jsonl"), splits=(TRAIN_SPLIT,))
cases = [c for c in dev + train if c.answerable]
m.weights = {"dense": 1.0, "lexical": 0.0, "topic": 0.0, "faq": 0.0}; m.priors = {}; m.kinds, m.kind_weights = [], []
keys = {}
base = _collect(ans, cases, keys)
n_keys, n_sig = len(keys), len(SIGNALS)
devids = {c.id for c in dev}
res = []
for seed in (0, 1, 2):
    order = np.random.default_rng(seed).permutation(len(base))
    cands = [base[i] for i in order]
    fit_kinds(cands, n_keys, io.StringIO())
    folds = np.arange(len(cands)) % 5
    for l2 in (0.1, 1.0):
        hits = []
        for f in range(5):
            tr = [c for c, k in zip(cands, folds) if k != f]
            te = [c for c, k in zip(cands, folds) if k == f and c.case_id in devids]
            w = fit_listwise(tr, n_keys, l2)
            hits += [_objective([c], w[:n_sig], np.r_[w[n_sig:], 0.0])[0] for c in te]
        res.append((seed, l2, np.mean(hits)))
        print(seed, l2, round(float(np.mean(hits)), 4), flush=True)
print("mean by l2:", {l2: round(float(np.mean([h for s, l, h in res if l == l2])), 4) for l2 in (0.1, 1.0)})
