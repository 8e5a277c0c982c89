"""Ranking CV on dev + train for a change under test: listwise fit with the out-of-fold kind signal, 5 folds x 3 fold
assignments, dev cases scored. Run before and after a change (or with an env toggle) from the repo root:
    HF_HUB_OFFLINE=1 .venv/bin/python experiments/ranking_cv.py
Used for the dense-reading choices of issue 12 (closing note, 2026-11-27); on the tree with the sentence signals (2026-11-28):
L2 0.1 0.879, L2 1.0 0.891. The heading priors' L2 past the fit's grid (argv 0.3 1 3 10 30, 2026-11-28): 0.885, 0.891,
0.895, 0.901, 0.898; with the fit's grid extended the fit picks 10, but visitor_cv.py shows no gain in what a visitor
gets, so the grid stays. Not imported by faqbot, not tested."""
import sys
from pathlib import Path
import numpy as np
from faqbot.settings import Settings
from faqbot.retrieval import open_answerer
from faqbot.evaluation.gold import load_gold, TRAIN_SPLIT
from faqbot.evaluation.fitting import _collect
from cv_folds import dev_cv, summary
from faqbot.model import SIGNALS
ans = open_answerer(Settings()); m = ans.model
dev = [c for c in load_gold(Path("eval/gold.jsonl")) if c.split == "dev" and not c.clarify]
train = load_gold(Path("eval/train.jsonl"), splits=(TRAIN_SPLIT,))
cases = [c for c in dev + train if c.answerable]
m.weights = {"dense": 1.0, "lexical": 0.0, "topic": 0.0, "faq": 0.0}; m.priors = {}; m.kinds, m.kind_weights = [], []
keys = {}
base = _collect(ans, cases, keys)
l2s = tuple(float(v) for v in sys.argv[1:]) or (0.1, 1.0)  # the heading priors' L2 values to compare
print(summary(dev_cv(base, len(keys), {c.id for c in dev}, SIGNALS, l2s)))
