"""What a visitor gets, fully out of sample on dev: the product's own `fit` (question-kind model, ranking weights and
priors, aspect model, calibration, threshold) on four fifths of dev + train, then the held-out fifth's dev cases
asked through the answerer as `faqbot eval` asks them. The ranking CV (ranking_cv.py) scores the ranking alone and
the calibration CVs score the confidence over an in-sample ranking; this scores the chain. Not imported by faqbot,
not tested. From the repo root:
    HF_HUB_OFFLINE=1 .venv/bin/python experiments/visitor_cv.py [seeds] [--by-page] [--prior-l2 0.01,0.03,...]

Results (2026-11-28), mean of seeds 0 1 2 (each 5 folds; the seeds spread over about 2 points):
| pipeline | folds | hit@1 | answered-right | precision | answerable withheld | unanswerable withheld |
|---|---|---|---|---|---|---|
| shipped | random | 0.906 | 0.822 | 0.915 | 0.117 | 0.967 |
| shipped | by page | 0.887 | 0.756 | 0.892 | 0.174 | 0.955 |
| heading priors' L2 grid up to 30 (fit picks 10; ranking CV +0.9) | random | 0.903 | 0.826 | 0.909 | 0.108 | 0.964 |
| FAQ close-match signal (faq_match_cv.py; ranking CV +0.8 / +1.2) | random | 0.906 | 0.813 | 0.914 | 0.127 | 0.964 |
| aspect model off the page axis (aspect_off_page.py) | random | 0.906 | 0.825 | 0.912 | 0.114 | 0.961 |
| aspect model off the page axis | by page | 0.887 | 0.791 | 0.882 | 0.124 | 0.958 |
| kind model off each candidate's page axis (kind_pages.py) | random | 0.903 | 0.822 | 0.906 | 0.113 | 0.958 |
| kind model off each candidate's page axis | by page | 0.892 | 0.755 | 0.903 | 0.184 | 0.958 |
| both off the page axis | random | 0.903 | 0.825 | 0.906 | 0.113 | 0.952 |
| both off the page axis | by page | 0.892 | 0.808 | 0.897 | 0.118 | 0.961 |
| shipped since (Model.new_pages: both off the page axis, folds by page, for pages the fit never saw) | random | 0.906 | 0.822 | 0.915 | 0.117 | 0.967 |
| shipped since | by page | 0.890 | 0.802 | 0.896 | 0.128 | 0.952 |
Folds by page reproduce what heldout-pages shows (answered-right 0.72 there, 0.76 here, against 0.82 on dev's own
pages). Neither ranking change that won the ranking CV moves the chain. The off-axis aspect model answers 3.5
points more of the answerable questions on unseen pages (every seed: +4.7, +2.5, +3.0) at one point of precision
(-1.6, -1.0, -0.5): by the threshold's own utility (a wrong answer costs two right ones) +0.6% of the answerable
questions, and nothing on dev's own pages. Reading both the kind and the aspect model off the page axis is the
largest change on unseen pages (answered-right +5.2 points, every seed up; precision +0.5; by the threshold's utility,
right minus twice wrong per answerable question, 0.573 -> 0.622) and costs dev's own pages precision 0.9 and
unanswerable withheld 1.5 points (utility 0.669 -> 0.654). I had set the bar before the run at +0.02 on unseen pages
and no more than -0.01 on dev's own: it missed the second. Refitted once to see: test answered-right 0.823 -> 0.789,
precision 0.899 -> 0.878, hit@1 0.903 -> 0.890; heldout-pages 0.724 -> 0.748, 0.821 -> 0.833, 0.890 -> 0.890.
The loss on the pages dev asks about is larger on test than the CV said. None shipped then.
Next session (2026-11-28): the fit now does both, each for the pages it is good for (`fit` records the pages it
saw; a question locked to another page gets `new_pages`); random folds give the shipped figures to the third
decimal, folds by page +4.6 answered-right and +0.4 precision.
"""
import argparse
import io
import sys
from pathlib import Path

import numpy as np

import faqbot.evaluation.fitting as F
from faqbot.evaluation.gold import TRAIN_SPLIT, load_gold
from faqbot.evaluation.metrics import run_case
from faqbot.model import Model
from faqbot.retrieval import open_answerer
from faqbot.sessions import Sessions
from faqbot.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cv_folds import deal_pages  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("seeds", nargs="*", type=int, default=[0, 1, 2])
parser.add_argument("--by-page", action="store_true", help="folds keep each page's cases together (pages not fitted on)")
parser.add_argument("--prior-l2", help="the listwise fit's grid of heading-prior L2 values, comma-separated")
args = parser.parse_args()
if args.prior_l2:
    F.PRIOR_L2 = tuple(float(v) for v in args.prior_l2.split(","))

ans = open_answerer(Settings())
dev = [c for c in load_gold(Path("eval/gold.jsonl")) if c.split == "dev" and not c.clarify]
cases = dev + load_gold(Path("eval/train.jsonl"), splits=(TRAIN_SPLIT,))
dev_ids = {c.id for c in dev}
rows = []
for seed in args.seeds:
    folds = np.random.default_rng(seed).permutation(len(cases)) % 5
    if args.by_page:  # a case without a page (off-topic, absent drug) keeps its random fold
        fold_of_doc = deal_pages([c.doc_id for c in cases if c.doc_id], seed)
        folds = np.array([fold_of_doc[c.doc_id] if c.doc_id else k for c, k in zip(cases, folds)])
    outcomes = []
    for f in range(5):
        model = Model()
        ans.model = ans.ranker.model = model
        ans.sessions, ans.clarifier.pending = Sessions(), Sessions()  # nothing remembered from another fold's runs
        F.fit(ans, [c for c, k in zip(cases, folds) if k != f], log=io.StringIO())
        ans.sessions, ans.clarifier.pending = Sessions(), Sessions()
        outcomes += [run_case(ans, c, "full") for c, k in zip(cases, folds) if k == f and c.id in dev_ids]
    answerable = [o for o in outcomes if o.case.answerable]
    unanswerable = [o for o in outcomes if not o.case.answerable]
    shown = [o for o in outcomes if o.answered]
    row = {
        "hit@1": np.mean([bool(o.ranked) and o.ranked[0] in o.case.relevant for o in answerable]),
        "answered-right": np.mean([o.right for o in answerable]),
        "precision": np.mean([o.right for o in shown]) if shown else 0.0,
        "answerable withheld": np.mean([not o.answered for o in answerable]),
        "unanswerable withheld": np.mean([not o.answered for o in unanswerable]),
    }
    rows.append(row)
    print(f"seed {seed}: " + "  ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
print("mean:   " + "  ".join(f"{k} {np.mean([r[k] for r in rows]):.3f}" for k in rows[0]), flush=True)
