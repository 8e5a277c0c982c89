"""Gold set, metrics, reports; fitting the fusion weights and the calibration on the dev split."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faqbot.errors import FaqbotError
from faqbot.retrieval import FEATURES, MODES, Answerer, Model, open_answerer
from faqbot.settings import Settings

K = 10
SIGNALS = ("dense", "lexical", "topic", "faq", "passage", "later_part")  # the ranking signals the fitted model weighs
MODEL_PATH = Path(__file__).with_name("model.json")


@dataclass(frozen=True)
class Case:
    """One gold question; `turns` are the earlier questions of the same conversation."""

    id: str
    question: str
    relevant: tuple[str, ...]
    doc_id: str | None
    answerable: bool
    tags: tuple[str, ...]
    split: str
    turns: tuple[str, ...] = ()


@dataclass
class Outcome:
    """What the system did with one case in one mode."""

    case: Case
    ranked: list[str]
    answered: bool
    answer_doc: str | None
    score: float
    features: dict[str, float]
    took_ms: float
    signals: dict[str, dict[str, Any]] = field(default_factory=dict)  # every candidate's, when explained


@dataclass
class Metrics:
    values: dict[str, float] = field(default_factory=dict)
    count: int = 0


def load_gold(path: Path) -> list[Case]:
    """Read eval/gold.jsonl; a malformed line is an error naming the line."""
    if not path.exists():
        raise FaqbotError(f"no gold set at {path}; pass --gold FILE")
    cases = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            cases.append(
                Case(
                    id=str(data["id"]),
                    question=data["question"],
                    relevant=tuple(data.get("relevant") or ()),
                    doc_id=data.get("doc_id"),
                    answerable=bool(data["answerable"]),
                    tags=tuple(data.get("tags") or ()),
                    split=data["split"],
                    turns=tuple(data.get("turns") or ()),
                )
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise FaqbotError(f"{path}:{n}: not a gold case ({exc}); see PRODUCT.md 'Evaluation' for the fields") from exc
    return cases


def run_case(answerer: Answerer, case: Case, mode: str, explain: bool = False) -> Outcome:
    """Ask a case the way a client would: earlier turns first, in one session."""
    session = f"eval-{case.id}-{mode}"
    for turn in case.turns:
        answerer.ask(turn, session_id=session, k=K, mode=mode)
    result = answerer.ask(case.question, session_id=session, k=K, mode=mode, explain=explain)
    answer = result["answer"]
    return Outcome(
        case=case,
        ranked=list(result["_ranked"]),
        answered=bool(result["answered"]),
        answer_doc=answer["doc_id"] if answer else None,
        score=float(answer["score"]) if answer else _top_score(result),
        features=dict(result["_features"]),
        took_ms=float(result["took_ms"]),
        signals=result.get("_signals", {}),
    )


def _top_score(result: dict[str, Any]) -> float:
    alternatives = result.get("alternatives") or []
    return float(alternatives[0]["score"]) if alternatives else 0.0


def ndcg(ranked: list[str], relevant: set[str], k: int = K) -> float:
    gains = sum(1.0 / math.log2(i + 2) for i, c in enumerate(ranked[:k]) if c in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return gains / ideal if ideal else 0.0


def reciprocal_rank(ranked: list[str], relevant: set[str], k: int = K) -> float:
    for i, c in enumerate(ranked[:k]):
        if c in relevant:
            return 1.0 / (i + 1)
    return 0.0


def allowed_docs(case: Case) -> set[str]:
    docs = {r.split("#", 1)[0] for r in case.relevant}
    if case.doc_id:
        docs.add(case.doc_id)
    return docs


def summarise(outcomes: list[Outcome]) -> Metrics:
    """hit@1, hit@3, MRR@10, nDCG@10 over answerable cases; wrong-drug, abstention, precision, coverage, latency."""
    answerable = [o for o in outcomes if o.case.answerable]
    unanswerable = [o for o in outcomes if not o.case.answerable]
    values: dict[str, float] = {}
    if answerable:
        values["hit@1"] = float(np.mean([bool(o.ranked[:1]) and o.ranked[0] in o.case.relevant for o in answerable]))
        values["hit@3"] = float(np.mean([bool(set(o.ranked[:3]) & set(o.case.relevant)) for o in answerable]))
        values["mrr@10"] = float(np.mean([reciprocal_rank(o.ranked, set(o.case.relevant)) for o in answerable]))
        values["ndcg@10"] = float(np.mean([ndcg(o.ranked, set(o.case.relevant)) for o in answerable]))
        values["false_abstention"] = float(np.mean([not o.answered for o in answerable]))
        correct = [o.answered and bool(o.ranked) and o.ranked[0] in o.case.relevant for o in answerable]
        values["coverage"] = float(np.mean(correct))
    if unanswerable:
        values["withheld_unanswerable"] = float(np.mean([not o.answered for o in unanswerable]))
    drug_cases = [o for o in outcomes if o.case.answerable or "absent-drug" in o.case.tags]
    if drug_cases:
        wrong = [o.answered and o.answer_doc not in allowed_docs(o.case) for o in drug_cases]
        values["wrong_drug"] = float(np.mean(wrong))
    answered = [o for o in outcomes if o.answered]
    values["answered_precision"] = (
        float(np.mean([o.case.answerable and o.ranked[0] in o.case.relevant for o in answered])) if answered else 0.0
    )
    latencies = [o.took_ms for o in outcomes]
    values["p50_ms"] = float(np.percentile(latencies, 50)) if latencies else 0.0
    values["p95_ms"] = float(np.percentile(latencies, 95)) if latencies else 0.0
    return Metrics(values=values, count=len(outcomes))


def evaluate(answerer: Answerer, cases: list[Case], modes: tuple[str, ...] = MODES) -> dict[str, list[Outcome]]:
    return {mode: [run_case(answerer, case, mode) for case in cases] for mode in modes}


# ---- fitting on dev --------------------------------------------------------------------------


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

    start = np.r_[[20.0, 2.0, 1.0, 0.0, 0.0, 0.0], np.zeros(n_keys)]
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


# ---- reports ---------------------------------------------------------------------------------

HEADLINE = ["hit@1", "hit@3", "mrr@10", "ndcg@10", "wrong_drug", "withheld_unanswerable", "false_abstention",
            "answered_precision", "coverage", "p50_ms", "p95_ms"]  # fmt: skip


def table(rows: dict[str, Metrics], first: str) -> str:
    head = f"| {first} | n | " + " | ".join(HEADLINE) + " |"
    lines = [head, "|" + "---|" * (len(HEADLINE) + 2)]
    for name, metrics in rows.items():
        cells = []
        for key in HEADLINE:
            value = metrics.values.get(key)
            cells.append("" if value is None else (f"{value:.1f}" if key.endswith("_ms") else f"{value:.3f}"))
        lines.append(f"| {name} | {metrics.count} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_report(results: dict[str, list[Outcome]], model: Model) -> tuple[dict[str, Any], str]:
    report: dict[str, Any] = {"model": model.__dict__, "splits": {}}
    md = [
        "# faqbot retrieval evaluation",
        "",
        f"Threshold {model.threshold:.2f}; weights {model.weights}; calibration: {model.fitted_on}.",
        "",
    ]
    for split in ("test", "dev"):
        per_mode = {mode: summarise([o for o in outs if o.case.split == split]) for mode, outs in results.items()}
        full = [o for o in results.get("full", []) if o.case.split == split]
        tags = sorted({t for o in full for t in o.case.tags})
        per_tag = {tag: summarise([o for o in full if tag in o.case.tags]) for tag in tags}
        report["splits"][split] = {
            "modes": {m: {"n": v.count, **v.values} for m, v in per_mode.items()},
            "tags_full": {t: {"n": v.count, **v.values} for t, v in per_tag.items()},
        }
        md += [f"## {split} split: per ranking mode", "", table(per_mode, "mode"), ""]
        md += [f"## {split} split: full pipeline per tag", "", table(per_tag, "tag"), ""]
        failures = [o for o in full if (o.case.answerable and (not o.ranked or o.ranked[0] not in o.case.relevant))
                    or (not o.case.answerable and o.answered)]  # fmt: skip
        if failures:
            md += [f"### {split}: cases the full pipeline gets wrong", ""]
            for o in sorted(failures, key=lambda o: o.case.id):
                got = o.ranked[0] if o.ranked else "(abstained by rule)"
                md.append(f"- `{o.case.id}` {o.case.question!r}: got `{got}` answered={o.answered} score={o.score:.2f}")
            md.append("")
    md.append(
        "Abstention, precision and coverage are the full pipeline's; for the other modes (ranking baselines "
        "without the drug lock) those columns only show that the calibration was fitted for the full pipeline."
    )
    md.append("Latency columns vary from run to run; every other figure is deterministic for a given index.")
    return report, "\n".join(md) + "\n"


def write_plot(results: dict[str, list[Outcome]], model: Model, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    metrics = ["hit@1", "hit@3", "mrr@10", "ndcg@10"]
    width = 0.2
    for i, (mode, outs) in enumerate(results.items()):
        values = summarise([o for o in outs if o.case.split == "test"]).values
        left.bar(np.arange(len(metrics)) + i * width, [values.get(m, 0) for m in metrics], width, label=mode)
    left.set_xticks(np.arange(len(metrics)) + 1.5 * width, metrics)
    left.set_title("test split: ranking quality per mode")
    left.set_ylim(0, 1.15)
    left.legend(loc="upper center", ncols=4, fontsize="small")
    full = [o for o in results.get("full", []) if o.case.split == "test"]
    points = []
    for t in np.linspace(0, 1, 101):
        answered = [o for o in full if o.ranked and o.score >= t]
        right_answers = [o for o in answered if o.case.answerable and o.ranked[0] in o.case.relevant]
        n_answerable = max(1, sum(o.case.answerable for o in full))
        if answered:
            points.append((len(right_answers) / n_answerable, len(right_answers) / len(answered), t))
    if points:
        cov, prec, _ = zip(*points)
        right.plot(cov, prec, marker=".", linewidth=1)
        chosen = min(points, key=lambda p: abs(p[2] - model.threshold))
        right.scatter([chosen[0]], [chosen[1]], color="red", zorder=3, label=f"threshold {model.threshold:.2f}")
        right.legend(loc="lower left")
    right.set_xlabel("coverage (answerable cases answered correctly)")
    right.set_ylabel("precision of answers given")
    right.set_title("test split: precision vs coverage (full pipeline)")
    right.set_xlim(0, 1.02)
    right.set_ylim(0, 1.02)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_trec(results: dict[str, list[Outcome]], out: Path) -> None:
    """One TREC run file per mode, ties already broken by (-score, id) in the ranking."""
    for mode, outs in results.items():
        lines = []
        for o in sorted(outs, key=lambda o: o.case.id):
            for rank, chunk_id in enumerate(o.ranked[:K], 1):
                lines.append(f"{o.case.id} Q0 {chunk_id} {rank} {K + 1 - rank} faqbot-{mode}")
        (out / f"latest-{mode}.run").write_text("\n".join(lines) + "\n")


def run_cli(args: argparse.Namespace, settings: Settings) -> int:
    """`faqbot eval`: gold set by default; --beir / --medquad for external data sets."""
    if args.beir or args.medquad:
        from faqbot.external import run_external

        return run_external(args, settings)
    cases = load_gold(args.gold)
    answerer = open_answerer(settings)
    if args.fit:
        model = fit(answerer, [c for c in cases if c.split == "dev"])
        model.save(MODEL_PATH)
        print(f"wrote {MODEL_PATH}")
    started = time.perf_counter()
    results = evaluate(answerer, cases)
    report, md = build_report(results, answerer.model)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    (args.out / "latest.md").write_text(md)
    write_plot(results, answerer.model, args.out / "latest.png")
    write_trec(results, args.out)
    if args.record_baseline:
        test_full = [o for o in results["full"] if o.case.split == "test"]
        baseline = {k: round(v, 4) for k, v in gate_metrics(test_full).items()}
        (args.gold.parent / "baseline.json").write_text(json.dumps(baseline, indent=2, sort_keys=True) + "\n")
        print(f"recorded the gate's baseline in {args.gold.parent / 'baseline.json'}: {baseline}")
    print(md)
    print(f"{len(cases)} cases x {len(results)} modes in {time.perf_counter() - started:.1f}s; reports in {args.out}/")
    return 0


def gate_metrics(results: list[Outcome]) -> dict[str, float]:
    """The figures the regression gate watches."""
    values = summarise(results).values
    return {k: values[k] for k in ("hit@1", "wrong_drug", "withheld_unanswerable", "false_abstention")}
