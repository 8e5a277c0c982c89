"""Fitting the ranking weights, per-heading priors, calibration and threshold on the dev split."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faqbot.evaluation.gold import Case
from faqbot.evaluation.metrics import run_case
from faqbot.retrieval import FEATURES, Answerer, Model

SIGNALS = ("dense", "lexical", "topic", "faq", "passage", "later_part")  # the ranking signals the fitted model weighs
MODEL_PATH = Path(__file__).parents[1] / "model.json"
# where the listwise fit starts: dense similarity leads, as in the unfitted model; unnamed signals start at 0
START = {"dense": 20.0, "lexical": 2.0, "topic": 1.0}

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


def choose_threshold(scores: list[float], answerable: list[bool], max_false_abstention: float = 0.03) -> float:
    """The highest threshold that withholds at most max_false_abstention of the answerable cases.

    The operating point the product asks for: answerable questions are rarely withheld, and every
    point of precision above that comes from withholding the least confident answers. Questions about
    drugs without a page never reach this: the drug lock withholds them by rule.
    """
    answerable_scores = sorted(s for s, a in zip(scores, answerable) if a)
    if not answerable_scores:
        return 0.5
    allowed = int(math.floor(max_false_abstention * len(answerable_scores)))
    # withholding the `allowed` lowest-scoring answerable cases, and nothing above them
    cut = answerable_scores[allowed] if allowed < len(answerable_scores) else answerable_scores[-1]
    return float(math.floor(cut * 100) / 100)


@dataclass
class _Candidates:
    """One dev case's candidate passages with the raw ranking signals, for fast re-scoring."""

    ids: list[str]
    signals: np.ndarray  # columns: SIGNALS
    keys: np.ndarray  # index into the prior keys
    relevant: np.ndarray  # bool


def _collect(answerer: Answerer, cases: list[Case], keys: dict[str, int]) -> list[_Candidates]:
    collected = []
    for case in cases:
        signals = run_case(answerer, case, "full", explain=True).signals
        if not signals or "two-drug" in case.tags:  # rule-based abstentions and interleaved pairs have no single ranking
            continue
        ids = sorted(signals)  # ties go to the smaller id, as in the ranking
        collected.append(
            _Candidates(
                ids=ids,
                signals=np.array([[signals[i][f] for f in SIGNALS] for i in ids]),
                keys=np.array([keys.setdefault(signals[i]["key"], len(keys)) for i in ids]),
                relevant=np.array([i in case.relevant for i in ids]),
            )
        )
    return collected


def _objective(cands: list[_Candidates], w: np.ndarray, priors: np.ndarray) -> tuple[float, float]:
    """(hit@1, mean reciprocal rank) of the dev cases under weights w and priors."""
    hits = rr = 0.0
    for c in cands:
        fused = c.signals @ w + priors[c.keys]
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


def fit(answerer: Answerer, dev: list[Case], log: Any = sys.stderr) -> Model:
    """Fit the ranking weights and per-heading priors on dev (listwise, L2 chosen by 2-fold CV); then calibrate."""
    model = answerer.model
    model.weights = {"dense": 1.0, "lexical": 0.0, "topic": 0.0, "faq": 0.0}
    model.priors = {}
    keys: dict[str, int] = {}
    cands = _collect(answerer, [c for c in dev if c.answerable], keys)
    n_keys, n_sig = len(keys), len(SIGNALS)
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
    scale = w[0]  # weights relative to the dense similarity, as the ranking uses them
    model.weights = {name: round(float(w[i] / scale), 4) for i, name in enumerate(SIGNALS)}
    model.priors = {key: round(float(w[n_sig + i] / scale), 4) for key, i in sorted(keys.items())}
    dev_fit = _objective(cands, w[:n_sig], np.r_[w[n_sig:], 0.0])
    print(f"ranking model (L2 {best_l2}, 2-fold CV hit@1 {best_cv:.3f}): dev hit@1 {dev_fit[0]:.3f}, MRR {dev_fit[1]:.3f}; "
          f"weights {model.weights}", file=log)  # fmt: skip

    outcomes = [run_case(answerer, c, "full") for c in dev]
    scored = [o for o in outcomes if o.ranked]  # rule-based abstentions (no drug page) have no features
    x = np.array([[o.features.get(f, 0.0) for f in FEATURES] for o in scored])
    y = np.array([1.0 if o.case.answerable and o.ranked[0] in o.case.relevant else 0.0 for o in scored])
    coef, intercept = fit_logistic(x, y)
    model.coef = {f: round(float(c), 4) for f, c in zip(FEATURES, coef)}
    model.intercept = round(intercept, 4)
    probabilities = [model.probability(o.features) for o in scored]
    model.threshold = choose_threshold(probabilities, [o.case.answerable for o in scored])
    model.fitted_on = f"dev split of eval/gold.jsonl ({len(dev)} cases)"
    print(f"calibration fitted on {len(scored)} dev cases; threshold {model.threshold:.2f}", file=log)
    return model

