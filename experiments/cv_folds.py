"""The dev ranking CV the experiments share: listwise fit with the out-of-fold kind signal, 5 folds x 3 fold
assignments over dev + train candidates, dev cases scored. Not imported by faqbot, not tested."""
import io

import numpy as np

import faqbot.evaluation.fitting as F


def dev_cv(base, n_keys, devids, signals, l2s=(0.1, 1.0)):
    """{L2: [hit@1 of dev cases, one per fold assignment]} with candidates' columns named `signals`."""
    F.SIGNALS = signals  # the fitting reads the signal names (regularisation, start) from its module
    n_sig = len(signals)
    res = {l2: [] for l2 in l2s}
    for seed in (0, 1, 2):
        order = np.random.default_rng(seed).permutation(len(base))
        cands = [base[i] for i in order]
        F.fit_kinds(cands, n_keys, io.StringIO())
        folds = np.arange(len(cands)) % 5
        for l2 in l2s:
            hits = []
            for f in range(5):
                tr = [c for c, k in zip(cands, folds) if k != f]
                te = [c for c, k in zip(cands, folds) if k == f and c.case_id in devids]
                w = F.fit_listwise(tr, n_keys, l2)
                hits += [F._objective([c], w[:n_sig], np.r_[w[n_sig:], 0.0])[0] for c in te]
            res[l2].append(round(float(np.mean(hits)), 4))
    return res


def summary(res):
    return " ".join(f"L2 {l2}: {np.mean(h):.4f} {h}" for l2, h in res.items())


def load_candidates(path="/tmp/sent_cands.pkl"):
    """experiments/sentence/prep.py's dev + train candidates without their sentence columns (a tree before the
    sentence signals collected seven): (candidates, prior keys, dev case ids, chunk row by id, signal names)."""
    import pickle

    from faqbot.model import SIGNALS

    d = pickle.load(open(path, "rb"))
    names = d.get("signals", SIGNALS[:7])
    plain = [i for i, n in enumerate(names) if not n.startswith("sentence")]
    for c in d["base"]:
        c.signals = c.signals[:, plain]
    return d["base"], d["keys"], set(d["devids"]), d["row_of"], tuple(names[i] for i in plain)


def add_sentence_signal(base, row_of, variant):
    """Append to each candidate its best cosine with one sentence of /tmp/sent_vecs_<variant>.pkl; returns the name."""
    import pickle

    s = pickle.load(open(f"/tmp/sent_vecs_{variant}.pkl", "rb"))
    by_row = {}
    for i, r in enumerate(s["owner"].tolist()):
        by_row.setdefault(r, []).append(i)
    for c in base:
        col = np.array([float((s["vecs"][by_row[row_of[i]]] @ c.query_vector).max()) for i in c.ids])
        c.signals = np.hstack([c.signals, col[:, None]])
    return "sentence_" + variant


def fitted_calibration_rows():
    """Fit as `faqbot eval --fit` does (nothing saved) and keep what the calibration is fitted on: the answerer,
    its design x over FEATURES, labels y (top passage right), the outcomes, and which rows are answerable."""
    import sys
    from pathlib import Path

    from faqbot.evaluation.gold import TRAIN_SPLIT, load_gold
    from faqbot.model import FEATURES
    from faqbot.retrieval import open_answerer
    from faqbot.settings import Settings

    captured = {}
    logistic, aspect = F.fit_logistic, F.fit_aspect

    def logistic_spy(x, y, l2=0.1, steps=50):
        if x.shape[1] == len(FEATURES):
            captured["x"], captured["y"] = x.copy(), y.copy()
        return logistic(x, y, l2, steps)

    def aspect_spy(answerer, scored, log):
        captured["scored"] = scored
        return aspect(answerer, scored, log)

    F.fit_logistic, F.fit_aspect = logistic_spy, aspect_spy
    try:
        ans = open_answerer(Settings())
        dev = [c for c in load_gold(Path("eval/gold.jsonl")) if c.split == "dev" and not c.clarify]
        F.fit(ans, dev, log=sys.stderr, train=load_gold(Path("eval/train.jsonl"), splits=(TRAIN_SPLIT,)))
    finally:
        F.fit_logistic, F.fit_aspect = logistic, aspect
    answerable = np.array([o.case.answerable for o in captured["scored"]])
    return ans, captured["x"], captured["y"], captured["scored"], answerable


def calibration_cv(design, y, answerable, label, fold_sets=None):
    """5 folds x 3 assignments of the calibration over design(train_mask, test_mask) -> (x_train, x_test), the
    threshold chosen on the training folds as the fit chooses it; prints AUC and what a visitor gets.
    fold_sets: the fold of each row, one array per assignment (default: three random assignments)."""
    aucs, rights, shown, withheld = [], [], [], []
    if fold_sets is None:
        fold_sets = [np.random.default_rng(seed).permutation(len(y)) % 5 for seed in (0, 1, 2)]
    for folds in fold_sets:
        p, t = np.zeros(len(y)), np.zeros(len(y))
        for f in np.unique(folds):
            tr, te = folds != f, folds == f
            xtr, xte = design(tr, te)
            w, b = F.fit_logistic(xtr, y[tr])
            t[te] = F.utility_threshold(list(1 / (1 + np.exp(-(xtr @ w + b)))), [bool(v) for v in y[tr]])
            p[te] = 1 / (1 + np.exp(-(xte @ w + b)))
        aucs.append(F._auc(p, y))
        shown_ = p >= t
        rights.append((shown_ & (y == 1) & answerable).sum() / answerable.sum())
        shown.append((shown_ & (y == 1)).sum() / max(1, shown_.sum()))
        withheld.append((~shown_ & ~answerable).sum() / (~answerable).sum())
    print(f"{label:34s} AUC {np.mean(aucs):.4f} {np.round(aucs, 4)}  answered-right {np.mean(rights):.3f}  "
          f"precision {np.mean(shown):.3f}  unanswerable withheld {np.mean(withheld):.3f}", flush=True)


def deal_pages(doc_ids, seed):
    """Each page's fold: the pages (sorted) shuffled by seed and dealt into 5 folds."""
    docs = sorted(set(doc_ids))
    return {docs[i]: k % 5 for k, i in enumerate(np.random.default_rng(seed).permutation(len(docs)))}


def page_fold_sets(scored, seeds=(0, 1, 2)):
    """Fold assignments that keep every case of a page in one fold (cases without a page count as one)."""
    docs = [o.case.doc_id or "-" for o in scored]
    return [np.array([fold[d] for d in docs]) for fold in (deal_pages(docs, seed) for seed in seeds)]


def page_axes(index):
    """Each page's axis: the direction of the mean of its passages' vectors."""
    n = len(index.chunks)
    chunk_docs = np.array([c.doc_id for c in index.chunks])
    axes = {}
    for d in set(chunk_docs):
        mean = index.vectors[:n][chunk_docs == d].mean(axis=0)
        axes[d] = mean / np.linalg.norm(mean)
    return axes


def off_axis(vector, axis):
    """A question's vector without its part along a page's axis."""
    return vector - (vector @ axis) * axis
