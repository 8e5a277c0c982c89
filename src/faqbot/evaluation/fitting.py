"""Fitting the ranking weights, per-heading priors, calibration and threshold on the dev split."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from faqbot.evaluation.gold import Case
from faqbot.evaluation.metrics import Outcome, run_case
from faqbot.model import FEATURES, SIGNALS, Model
from faqbot.ranking import fuse
from faqbot.retrieval import Answerer

# where the listwise fit starts: dense similarity leads, as in the unfitted model; unnamed signals start at 0
START = {"dense": 20.0, "lexical": 2.0, "topic": 1.0}
# a wrong passage shown as an answer costs this many right ones (the threshold's trade-off)
WRONG_COST = 2.0


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 0.1, steps: int = 50) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method (a few features, a few hundred cases)."""
    design = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(design.shape[1])
    reg = np.full(design.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -30, 30)))
        grad = design.T @ (p - y) + reg * w
        hess = (design * (p * (1 - p))[:, None]).T @ design + np.diag(reg) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


@dataclass
class _Candidates:
    """One dev case's candidate passages with the raw ranking signals, for fast re-scoring."""

    case_id: str
    doc_id: str | None
    ids: list[str]
    signals: np.ndarray  # columns: SIGNALS
    keys: np.ndarray  # index into the prior keys
    relevant: np.ndarray  # bool
    query_vector: np.ndarray


def _collect(answerer: Answerer, cases: list[Case], keys: dict[str, int]) -> list[_Candidates]:
    collected = []
    for case in cases:
        outcome = run_case(answerer, case, "full", explain=True)
        signals = outcome.signals
        if not signals or outcome.query_vector is None or "two-drug" in case.tags:
            continue  # rule-based abstentions and interleaved pairs have no single ranking
        ids = sorted(signals)  # ties go to the smaller id, as in the ranking
        collected.append(
            _Candidates(
                case_id=case.id,
                doc_id=case.doc_id,
                ids=ids,
                signals=np.array([[signals[i][f] for f in SIGNALS] for i in ids]),
                keys=np.array([keys.setdefault(signals[i]["key"], len(keys)) for i in ids]),
                relevant=np.array([i in case.relevant for i in ids]),
                query_vector=outcome.query_vector,
            )
        )
    return collected


def _objective(cands: list[_Candidates], w: np.ndarray, priors: np.ndarray) -> tuple[float, float]:
    """(hit@1, mean reciprocal rank) of the dev cases under weights w and priors."""
    hits = rr = 0.0
    for c in cands:
        fused = fuse(c.signals, w, priors[c.keys])
        top = int(np.argmax(fused))
        hits += bool(c.relevant[top])
        if c.relevant.any():
            best_relevant = fused[c.relevant].max()
            rr += 1.0 / (1 + int(np.sum(fused > best_relevant)))
    n = max(1, len(cands))
    return hits / n, rr / n


def _design(c: _Candidates, n_keys: int) -> np.ndarray:
    """Candidate features: the four signals, then a one-hot of the passage's heading kind."""
    onehot = np.zeros((len(c.ids), n_keys))
    onehot[np.arange(len(c.ids)), c.keys] = 1.0
    return np.hstack([c.signals, onehot])


def fit_listwise(cands: list[_Candidates], n_keys: int, l2: float) -> np.ndarray:
    """Listwise softmax ranking model: maximise the probability of the relevant passages.

    Smooth and L2-regularised, so a few hundred dev questions do not push any heading's prior
    to an extreme the way a direct hit@1 search does.
    """
    from scipy.optimize import minimize

    designs = [(_design(c, n_keys), c.relevant) for c in cands if c.relevant.any()]
    reg = np.r_[np.zeros(len(SIGNALS)), np.full(n_keys, l2)]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.5 * float(reg @ (w * w)), reg * w
        for x, rel in designs:
            s = x @ w
            p_all = np.exp(s - s.max())
            p_all /= p_all.sum()
            s_rel = np.where(rel, s, -np.inf)
            p_rel = np.exp(s_rel - s_rel.max())
            p_rel /= p_rel.sum()
            total -= float(np.log(p_all[rel].sum()))
            grad = grad + x.T @ (p_all - p_rel)
        return total / len(designs), grad / len(designs)

    start = np.r_[[START.get(name, 0.0) for name in SIGNALS], np.zeros(n_keys)]
    return minimize(loss, start, jac=True, method="L-BFGS-B").x


def fit_softmax(x: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    """L2-regularised multinomial logistic regression; y holds each row's target distribution.

    Returns the weights, one row per column of x and the bias row last.
    """
    from scipy.optimize import minimize

    n, d = x.shape
    k = y.shape[1]
    design = np.hstack([x, np.ones((n, 1))])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        weights = w.reshape(d + 1, k)
        log_p = _log_softmax(design @ weights)
        grad = design.T @ (np.exp(log_p) - y) / n
        grad[:-1] += l2 * weights[:-1]
        return float(-(y * log_p).sum() / n + 0.5 * l2 * (weights[:-1] ** 2).sum()), grad.ravel()

    start = np.zeros((d + 1) * k)
    return minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 300}).x.reshape(d + 1, k)


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    return scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))


def folds_of(doc_ids: list[str | None], pages: list[str] | None) -> np.ndarray:
    """Five folds over cases: by position (pages None), or each page's cases together, pages dealt in the order
    given (the index's, so every step of a fit deals them alike): each fold's questions are then about pages the
    other four were not fitted on. A case on no page goes by position."""
    if pages is None:
        return np.arange(len(doc_ids)) % 5
    fold_of_page = {d: i % 5 for i, d in enumerate(pages)}
    return np.array([fold_of_page[d] if d in fold_of_page else i % 5 for i, d in enumerate(doc_ids)])


def page_order(answerer: Answerer, by_page: bool) -> list[str] | None:
    """The pages to deal into folds by page (the index's, by name), or None for folds by position."""
    return sorted(answerer.index.drugs) if by_page else None


def fit_kinds(
    cands: list[_Candidates], n_keys: int, log: Any, pages: list[str] | None = None
) -> tuple[np.ndarray, list[np.ndarray], dict[str, int]]:
    """The question-kind model: from the query vector, which kind of passage (prior key) answers.

    Trained on dev's answerable questions, each labelled with the kinds of its relevant passages.
    Fills every candidate's "kind" signal with its question's out-of-fold log-probabilities (5 folds,
    by page when pages are given, see folds_of; L2 chosen by their log loss), so the ranking weights are fitted on the signal
    as unseen questions get it. Returns the weights fitted on all of them, each fold's, and each case's fold.
    """
    x = np.array([c.query_vector for c in cands])
    y = np.zeros((len(cands), n_keys))
    for i, c in enumerate(cands):
        y[i, c.keys[c.relevant]] = 1.0 / max(1, int(c.relevant.sum()))
    labelled = y.sum(axis=1) > 0
    folds = folds_of([c.doc_id for c in cands], pages)
    best: tuple[float, float, list[np.ndarray], np.ndarray] | None = None
    for l2 in (3e-4, 1e-3, 3e-3):
        fold_weights, log_p = [], np.zeros_like(y)
        for f in range(5):
            weights = fit_softmax(x[(folds != f) & labelled], y[(folds != f) & labelled], l2)
            fold_weights.append(weights)
            log_p[folds == f] = _log_softmax(x[folds == f] @ weights[:-1] + weights[-1])
        log_loss = float(-(y * log_p).sum() / labelled.sum())
        if best is None or log_loss < best[0]:
            best = (log_loss, l2, fold_weights, log_p)
    assert best is not None
    log_loss, l2, fold_weights, log_p = best
    column = SIGNALS.index("kind")
    for i, c in enumerate(cands):
        c.signals[:, column] = log_p[i, c.keys]
    accuracy = float(np.mean([y[i, log_p[i].argmax()] > 0 for i in np.flatnonzero(labelled)]))
    print(f"question-kind model: {int(labelled.sum())} dev questions, {n_keys} kinds; L2 {l2}, 5-fold{' by page' * (pages is not None)} log loss "
          f"{log_loss:.3f}, top kind right {accuracy:.3f}", file=log)  # fmt: skip
    return fit_softmax(x[labelled], y[labelled], l2), fold_weights, {c.case_id: int(folds[i]) for i, c in enumerate(cands)}


def fit(answerer: Answerer, dev: list[Case], log: Any = sys.stderr, train: list[Case] | None = None) -> Model:
    """Fit answerer.model on dev, twice: for the pages dev is about, and (its new_pages) for pages the fit never
    saw, with the vector models reading questions off their page's axis and every out-of-fold figure taken from
    folds by page, as such a page's questions come. See fit_models.

    `train` (eval/train.jsonl: questions written only to fit on) joins dev in every step.
    """
    model = answerer.model
    described = f"dev split of eval/gold.jsonl ({len(dev)} cases)"
    if train:
        described += f" and eval/train.jsonl ({len(train)} cases)"
        dev = [*dev, *train]
    model.fitted_pages, model.new_pages = [], {}
    model.page_axis = True
    print("for pages the fit never saw (questions read off their page's axis, folds by page):", file=log)
    fit_models(answerer, dev, log, by_page=True)
    model.fitted_on = f"{described}, for pages not in it"
    new_pages = model.as_dict()
    model.page_axis = False
    print("for the pages the fit saw:", file=log)
    fit_models(answerer, dev, log, by_page=False)
    model.fitted_on = described
    model.fitted_pages = sorted({d for c in dev for d in (c.doc_id, *(r.split("#")[0] for r in c.relevant)) if d})
    model.new_pages = new_pages
    return model


def fit_models(answerer: Answerer, dev: list[Case], log: Any, by_page: bool) -> None:
    """Fit answerer.model's question-kind model, ranking weights and per-heading priors on dev (listwise, L2
    chosen by 2-fold CV); then its aspect model, calibration and threshold on dev questions ranked as if unseen
    (by_page: as questions about a page the fit did not see)."""
    model = answerer.model
    model.weights = {"dense": 1.0, "lexical": 0.0, "topic": 0.0, "faq": 0.0}
    model.priors = {}
    model.kinds, model.kind_weights = [], []
    keys: dict[str, int] = {}
    cands = _collect(answerer, [c for c in dev if c.answerable], keys)
    n_keys, n_sig = len(keys), len(SIGNALS)
    pages = page_order(answerer, by_page)
    kind_weights, fold_kind_weights, fold_of = fit_kinds(cands, n_keys, log, pages)
    # a question the kind model was not trained on (unanswerable, two drugs) is ranked, with folds by page, by the
    # model of its page's fold, which was not fitted on its page either
    fold_of.update({c.id: int(f) for c, f in zip(dev, folds_of([c.doc_id for c in dev], pages)) if c.id not in fold_of and by_page})
    folds = [cands[0::2], cands[1::2]]
    best_l2, best_cv = 1.0, -1.0
    for l2 in (0.01, 0.03, 0.1, 0.3, 1.0):
        cv = 0.0
        for i in (0, 1):
            w = fit_listwise(folds[i], n_keys, l2)
            cv += _objective(folds[1 - i], w[:n_sig], np.r_[w[n_sig:], 0.0])[0] / 2
        if cv > best_cv:
            best_l2, best_cv = l2, cv
    w = fit_listwise(cands, n_keys, best_l2)
    model.weights, model.priors = relative_weights(w, keys)
    dev_fit = _objective(cands, w[:n_sig], np.r_[w[n_sig:], 0.0])
    print(f"ranking model (L2 {best_l2}, 2-fold CV hit@1 {best_cv:.3f}): dev hit@1 {dev_fit[0]:.3f}, MRR {dev_fit[1]:.3f}; "
          f"weights {model.weights}", file=log)  # fmt: skip

    model.kinds = sorted(keys, key=keys.__getitem__)
    # each question the kind model was trained on is ranked by the model of the fold that left it out
    by_id = {}
    for f in range(5):
        model.kind_weights = _rounded(fold_kind_weights[f])
        by_id.update({c.id: run_case(answerer, c, "full", explain=True) for c in dev if fold_of.get(c.id) == f})
    model.kind_weights = _rounded(kind_weights)
    by_id.update({c.id: run_case(answerer, c, "full", explain=True) for c in dev if c.id not in fold_of})
    outcomes = [by_id[c.id] for c in dev]
    scored = [o for o in outcomes if o.ranked and o.query_vector is not None]  # rule-based abstentions have no features
    model.aspect, held_out_logits = fit_aspect(answerer, scored, log, pages)
    x = np.array([[o.features.get(f, 0.0) for f in FEATURES] for o in scored])
    x[:, FEATURES.index("asks_covered")] = held_out_logits  # as on unseen questions, not as fitted
    y = np.array([1.0 if o.case.answerable and o.ranked[0] in o.case.relevant else 0.0 for o in scored])
    coef, intercept = fit_logistic(x, y)
    model.coef = {f: round(float(c), 4) for f, c in zip(FEATURES, coef)}
    model.intercept = round(intercept, 4)
    probabilities = [model.probability(dict(zip(FEATURES, row))) for row in x]
    model.threshold = utility_threshold(probabilities, [bool(v) for v in y])
    print(f"calibration fitted on {len(scored)} dev cases; threshold {model.threshold:.2f}", file=log)


def relative_weights(w: np.ndarray, keys: dict[str, int]) -> tuple[dict[str, float], dict[str, float]]:
    """The listwise fit's weights as the ranking uses them: the SIGNALS weights, then each heading prior, in units
    of the dense similarity's weight. Its size only: a fit that weighs dense below 0 (another signal carrying the
    similarity) keeps the order it found, where dividing by the weight itself would turn the ranking upside down."""
    scale = abs(float(w[0])) or 1.0
    n_sig = len(SIGNALS)
    weights = {name: round(float(w[i] / scale), 4) for i, name in enumerate(SIGNALS)}
    return weights, {key: round(float(w[n_sig + i] / scale), 4) for key, i in sorted(keys.items())}


def _rounded(weights: np.ndarray) -> list[list[float]]:
    return [[round(float(v), 5) for v in row] for row in weights]


def fit_aspect(answerer: Answerer, scored: list[Outcome], log: Any, pages: list[str] | None = None) -> tuple[list[float], np.ndarray]:
    """Logistic regression over the query vector (as the model reads it, Ranker.reading): does the question ask
    something the pages cover?

    Positives: dev's answerable questions and the FAQ questions of the pages dev is about (their
    vectors are in the index, read as a question about their page); negatives: dev's unanswerable questions.
    L2 chosen by 5-fold cross-validated AUC (folds by page when pages are given: a fold's pages' FAQ questions
    are left out with them). Returns the weights (bias last) and each dev case's out-of-fold log-odds.
    """
    x_dev = np.array([o.query_vector for o in scored])
    y_dev = np.array([1.0 if o.case.answerable else 0.0 for o in scored])
    index, ranker = answerer.index, answerer.ranker
    dev_docs = {o.case.doc_id for o in scored if o.case.doc_id}
    rows = [r for r in range(len(index.chunks), len(index.vectors)) if index.chunks[index.vector_chunk[r]].doc_id in dev_docs]
    faq_docs = [index.chunks[index.vector_chunk[r]].doc_id for r in rows]
    x_faq = np.array([ranker.reading(answerer.model, index.vectors[r], [d]) for r, d in zip(rows, faq_docs)])
    y_faq = np.ones(len(rows))
    folds = folds_of([o.case.doc_id for o in scored], pages)
    faq_folds = folds_of(faq_docs, pages) if pages is not None else np.full(len(rows), -1)
    best: tuple[float, float, np.ndarray] = (-1.0, 1.0, np.zeros(len(scored)))
    for l2 in (0.3, 1.0, 3.0, 10.0):
        logits = np.zeros(len(scored))
        for f in range(5):
            train, faq_train = folds != f, faq_folds != f
            w, b = fit_logistic(np.vstack([x_dev[train], x_faq[faq_train]]), np.r_[y_dev[train], y_faq[faq_train]], l2=l2)
            logits[~train] = x_dev[~train] @ w + b
        auc = _auc(logits, y_dev)
        if auc > best[0]:
            best = (auc, l2, logits)
    w, b = fit_logistic(np.vstack([x_dev, x_faq]), np.r_[y_dev, y_faq], l2=best[1])
    print(f"aspect model: {len(scored)} dev questions + {len(rows)} FAQ questions; L2 {best[1]}, "
          f"5-fold{' by page' * (pages is not None)} AUC {best[0]:.3f}", file=log)  # fmt: skip
    return [round(float(v), 5) for v in (*w, b)], best[2]


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return 0.5
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def utility_threshold(scores: list[float], right: list[bool], wrong_cost: float = WRONG_COST) -> float:
    """The threshold (to 0.01) that maximises right answers shown minus wrong_cost times wrong ones shown.

    A withheld answer scores 0, a right one 1, a wrong one -wrong_cost: the product's rule that a
    passage which does not answer, shown as if it did, is worse than "the page doesn't say".
    Ties go to the higher threshold.
    """
    best_t, best_value = 1.0, 0.0
    for t in np.round(np.arange(0.99, -0.001, -0.01), 2):
        value = sum(1.0 if r else -wrong_cost for s, r in zip(scores, right) if s >= t)
        if value > best_value + 1e-9:
            best_t, best_value = float(t), value
    return best_t
