"""Ranking CV by page: does the question-kind model (query vector -> kind of passage) carry page identity, as the
aspect model does (aspect_off_page.py)? Dev + train candidates of experiments/sentence/prep.py with the two shipped
sentence signals; the kind signal recomputed out of fold with the same folds as the ranking, three variants: as
fitted (plain), read off each candidate's page axis (offaxis), and left out (none). Folds random or by page.
Not imported by faqbot, not tested.

Results (2026-11-28), dev hit@1, 5 folds x 3 assignments, ranking L2 1.0:
| folds | plain | offaxis | none |
|---|---|---|---|
| random | 0.888 | 0.888 | 0.870 |
| by page | 0.850 | 0.859 | 0.852 |
On pages it was not fitted on, the kind model as fitted adds nothing (0.850 against 0.852 without it): it learns
dev's pages. Read off the page axis it keeps its worth on dev's own pages and gains 0.9 on unseen ones. What a
visitor gets with it: visitor_cv.py (not shipped).
"""
import copy
import sys
from pathlib import Path

import numpy as np

import faqbot.evaluation.fitting as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cv_folds import add_sentence_signal, deal_pages, load_candidates, off_axis, page_axes  # noqa: E402

from faqbot.retrieval import open_answerer  # noqa: E402
from faqbot.settings import Settings  # noqa: E402

candidates, keys, devids, row_of, plain = load_candidates()
sig = plain + tuple(add_sentence_signal(candidates, row_of, part) for part in ("bare", "pair"))
F.SIGNALS = sig
n_keys, n_sig, kind_col = len(keys), len(sig), sig.index("kind")
axis = page_axes(open_answerer(Settings()).index)
case_doc = [c.ids[int(np.argmax(c.relevant))].split("#")[0] for c in candidates]


def kind_inputs(c, how):
    """One query vector per candidate: as asked, or off the candidate's page axis."""
    return np.array([c.query_vector if how == "plain" else off_axis(c.query_vector, axis[i.split("#")[0]]) for i in c.ids])


doc_of_case = {c.case_id: d for c, d in zip(candidates, case_doc)}
inner_fold = {d: i % 5 for i, d in enumerate(sorted(set(case_doc)))}


def train_input(c, how):
    """The query vector a kind is learned from: off the axis of the page the question is about."""
    return c.query_vector if how == "plain" else off_axis(c.query_vector, axis[doc_of_case[c.case_id]])


def predict(c, how, w):
    scores = kind_inputs(c, how) @ w[:-1] + w[-1]
    return F._log_softmax(scores)[np.arange(len(c.ids)), c.keys]


def targets(c):
    y = np.zeros(n_keys)
    y[c.keys[c.relevant]] = 1.0 / max(1, int(c.relevant.sum()))
    return y


def run(how, by_page, l2_rank=1.0, l2_kind=1e-3):
    hits = []
    for seed in (0, 1, 2):
        if by_page:
            fold_of = deal_pages(case_doc, seed)
            folds = np.array([fold_of[d] for d in case_doc])
        else:
            folds = np.random.default_rng(seed).permutation(len(candidates)) % 5
        base = copy.deepcopy(candidates)
        if how == "none":
            for c in base:
                c.signals[:, kind_col] = 0.0
        for f in range(5):
            tr = [c for c, k in zip(base, folds) if k != f]
            te = [c for c, k in zip(base, folds) if k == f]
            if how != "none":
                # the training folds' own kind signal out of fold (inner folds of the same kind), then the test fold's
                inner = np.array([inner_fold[doc_of_case[c.case_id]] if by_page else i % 5 for i, c in enumerate(tr)])
                for g in range(5):
                    fit_on = [c for c, k in zip(tr, inner) if k != g]
                    x = np.array([train_input(c, how) for c in fit_on])
                    w = F.fit_softmax(x, np.array([targets(c) for c in fit_on]), l2_kind)
                    for c, k in zip(tr, inner):
                        if k == g:
                            c.signals[:, kind_col] = predict(c, how, w)
                x = np.array([train_input(c, how) for c in tr])
                w = F.fit_softmax(x, np.array([targets(c) for c in tr]), l2_kind)
                for c in te:
                    c.signals[:, kind_col] = predict(c, how, w)
            wr = F.fit_listwise(tr, n_keys, l2_rank)
            hits += [F._objective([c], wr[:n_sig], np.r_[wr[n_sig:], 0.0])[0] for c in te if c.case_id in devids]
    return float(np.mean(hits))


for by_page in (False, True):
    for how in ("plain", "offaxis", "none"):
        print(f"{'by page' if by_page else 'random '} kind {how:8s} dev hit@1 {run(how, by_page):.4f}", flush=True)
