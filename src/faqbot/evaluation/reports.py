"""`faqbot eval`: the gold set through every ranking mode, per split and tag, as markdown, JSON, a plot and TREC runs."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from faqbot.evaluation.gold import SPLITS, TRAIN_SPLIT, UNANSWERABLE_KINDS, load_gold
from faqbot.evaluation.metrics import ClarifyOutcome, K, Metrics, Outcome, evaluate, run_clarify_case, summarise
from faqbot.model import Model
from faqbot.ranking import MODES
from faqbot.retrieval import open_answerer
from faqbot.settings import Settings

VISITOR = ["answered_right", "answered_precision", "withheld_answerable", *(f"withheld:{k}" for k in UNANSWERABLE_KINDS), "wrong_drug"]
RANKING = ["hit@1", "hit@3", "mrr@10", "ndcg@10", "p50_ms", "p95_ms"]
HEADLINE_SPLITS = ("test", "heldout-pages")
# the figures the regression gate holds on the headline splits
GATE = ("answered_right", "answered_precision", "withheld_answerable", *(f"withheld:{k}" for k in UNANSWERABLE_KINDS),
        "wrong_drug", "hit@1")  # fmt: skip


def gold_version(case_id: str) -> str:
    """v1 cases (ids g001-g397) predate the 'page doesn't say' cases; v2 ids start with 'v2'."""
    return "v1" if case_id.startswith("g") else "v2"


def _cell(key: str, value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f}" if key.endswith("_ms") else f"{value:.3f}"


def table(rows: dict[str, Metrics], first: str, columns: list[str]) -> str:
    lines = [f"| {first} | n | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 2)]
    for name, metrics in rows.items():
        lines.append(f"| {name} | {metrics.count} | " + " | ".join(_cell(k, metrics.values.get(k)) for k in columns) + " |")
    return "\n".join(lines)


def side_by_side(columns: dict[str, Metrics], keys: list[str]) -> str:
    """One row per figure, one column per split: the README's headline shape."""
    lines = ["| figure | " + " | ".join(f"{name} (n={m.count})" for name, m in columns.items()) + " |",
             "|---|" + "---|" * len(columns)]  # fmt: skip
    for key in keys:
        if any(key in m.values for m in columns.values()):
            lines.append(f"| {key} | " + " | ".join(_cell(key, m.values.get(key)) for m in columns.values()) + " |")
    return "\n".join(lines)


def headline(full: list[Outcome]) -> str:
    """test and heldout-pages side by side, all cases and gold v1 only."""
    columns: dict[str, Metrics] = {}
    for split in HEADLINE_SPLITS:
        of_split = [o for o in full if o.case.split == split]
        columns[split] = summarise(of_split)
        columns[f"{split}, v1 only"] = summarise([o for o in of_split if gold_version(o.case.id) == "v1"])
    return side_by_side(columns, VISITOR + RANKING)


def new_pages_line(model: Model) -> list[str]:
    """What pages outside the fit are answered with (Model.new_pages), when the model has it."""
    if not model.new_pages:
        return []
    new = model.for_new_pages()
    return [
        f"Pages the fit never saw (all but {len(model.fitted_pages)}; here heldout-pages): questions read off their "
        f"page's axis, threshold {new.threshold:.2f}, weights {new.weights}.",
        "",
    ]


def build_report(results: dict[str, list[Outcome]], model: Model, show_misses: tuple[str, ...] = ("dev",)) -> tuple[dict[str, Any], str]:
    full = results.get("full", [])
    report: dict[str, Any] = {"model": model.summary(), "splits": {}}
    md = [
        "# faqbot retrieval evaluation",
        "",
        f"Threshold {model.threshold:.2f}; weights {model.weights}; calibration: {model.fitted_on}.",
        "",
        *new_pages_line(model),
        "## Headline: full pipeline, what a visitor gets, then ranking",
        "",
        headline(full),
        "",
    ]
    for split in SPLITS:
        per_mode = {mode: summarise([o for o in outs if o.case.split == split]) for mode, outs in results.items()}
        of_split = [o for o in full if o.case.split == split]
        if not of_split:
            continue
        tags = sorted({t for o in of_split for t in o.case.tags})
        per_tag = {tag: summarise([o for o in of_split if tag in o.case.tags]) for tag in tags}
        report["splits"][split] = {
            "modes": {m: {"n": v.count, **v.values} for m, v in per_mode.items()},
            "tags_full": {t: {"n": v.count, **v.values} for t, v in per_tag.items()},
        }
        md += [f"## {split}: full pipeline per tag, what a visitor gets", "", table(per_tag, "tag", VISITOR), ""]
        md += [f"## {split}: full pipeline per tag, ranking", "", table(per_tag, "tag", RANKING), ""]
        md += [f"## {split}: ranking per mode", "", table(per_mode, "mode", RANKING), ""]
        if split not in show_misses:
            continue
        misses = [o for o in of_split if (o.case.answerable and not o.right) or (not o.case.answerable and o.answered)]
        if misses:
            md += [f"### {split}: cases the full pipeline gets wrong", ""]
            for o in sorted(misses, key=lambda o: o.case.id):
                got = o.ranked[0] if o.ranked else "(withheld by rule)"
                md.append(f"- `{o.case.id}` {o.case.question!r}: got `{got}` answered={o.answered} score={o.score:.2f}")
            md.append("")
    md.append(
        "Ranking figures count the ranking even when the answer is withheld; the modes other than `full` are "
        "ranking baselines without the drug lock or abstention. Misses are listed for dev only (--show-misses "
        "adds others): test and heldout-pages cases are not read while ranking changes."
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
    for split in HEADLINE_SPLITS:
        full = [o for o in results.get("full", []) if o.case.split == split]
        points = []
        n_answerable = max(1, sum(o.case.answerable for o in full))
        for t in np.linspace(0, 1, 101):
            shown = [o for o in full if o.ranked and o.score >= t]
            right_answers = [o for o in shown if o.case.answerable and o.ranked[0] in o.case.relevant]
            if shown:
                points.append((len(right_answers) / n_answerable, len(right_answers) / len(shown), t))
        if points:
            cov, prec, _ = zip(*points)
            right.plot(cov, prec, marker=".", linewidth=1, label=split)
    right.set_xlabel("answered and right (share of answerable cases)")
    right.set_ylabel("answered precision")
    shipped = f"{model.threshold:.2f}" + (f", new pages {model.for_new_pages().threshold:.2f}" if model.new_pages else "")
    right.set_title(f"full pipeline, score threshold swept (shipped: {shipped})")
    right.legend(loc="lower left")
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


def clarify_figures(outcomes: list[ClarifyOutcome]) -> dict[str, float]:
    """Clarifying-turn cases: how often faqbot asked back and offered the right drug, and the answer
    after the drug was given against the same question with the drug named in it."""
    n = max(1, len(outcomes))
    return {
        "n": float(len(outcomes)),
        "asked_back": sum(o.asked_back for o in outcomes) / n,
        "drug_offered": sum(o.case.doc_id in o.offered for o in outcomes) / n,
        "answered_right_after_pick": sum(o.picked.right for o in outcomes) / n,
        "answered_right_named": sum(o.named.right for o in outcomes) / n,
        "hit@1_after_pick": sum(bool(o.picked.ranked) and o.picked.ranked[0] in o.case.relevant for o in outcomes) / n,
        "hit@1_named": sum(bool(o.named.ranked) and o.named.ranked[0] in o.case.relevant for o in outcomes) / n,
    }


def clarify_section(outcomes: list[ClarifyOutcome]) -> tuple[dict[str, Any], str]:
    """The clarifying-turn cases per split, as JSON and a markdown table (kept out of every other figure)."""
    groups = {split: [o for o in outcomes if o.case.split == split] for split in SPLITS}
    groups = {name: outs for name, outs in groups.items() if outs}
    groups["all"] = outcomes
    figures = {name: clarify_figures(outs) for name, outs in groups.items()}
    keys = [k for k in next(iter(figures.values())) if k != "n"]
    md = [
        "## Clarifying turn: a question naming no drug, then the drug",
        "",
        "Each case asks a question without a drug, then gives the drug; `named` asks the same question with the drug "
        "named in it, on its own. asked_back: faqbot asked which medicine; drug_offered: the case's drug was one of "
        "the choices. These cases count in no other figure.",
        "",
        "| figure | " + " | ".join(f"{name} (n={int(f['n'])})" for name, f in figures.items()) + " |",
        "|---|" + "---|" * len(figures),
    ]
    md += [f"| {k} | " + " | ".join(f"{f[k]:.3f}" for f in figures.values()) + " |" for k in keys]
    misses = [o for o in outcomes if o.case.split == "dev" and not o.picked.right]
    if misses:
        md += ["", "Dev cases not answered right after the pick:", ""]
        md += [f"- `{o.case.id}` {o.case.turns[0]!r} + {o.case.question!r}: asked_back={o.asked_back} "
               f"got `{o.picked.ranked[0] if o.picked.ranked else '-'}` answered={o.picked.answered}" for o in misses]  # fmt: skip
    return figures, "\n".join(md) + "\n"


def gate_metrics(outcomes: list[Outcome]) -> dict[str, float]:
    """The figures the regression gate holds, for one split's full-pipeline outcomes (clarifying-turn cases apart)."""
    values = summarise([o for o in outcomes if not o.case.clarify]).values
    return {k: values[k] for k in GATE if k in values}


def run_cli(args: argparse.Namespace, settings: Settings) -> int:
    """`faqbot eval`: gold set by default; --beir / --medquad for external data sets."""
    if args.beir or args.medquad:
        from faqbot.evaluation.external import run_external

        return run_external(args, settings)
    cases = load_gold(args.gold)
    clarifying = [c for c in cases if c.clarify]
    cases = [c for c in cases if not c.clarify]
    answerer = open_answerer(settings)
    if args.fit:
        from faqbot.evaluation.fitting import fit
        from faqbot.model import shipped_models_dir

        train_path = args.gold.parent / "train.jsonl"
        train = load_gold(train_path, (TRAIN_SPLIT,)) if train_path.exists() else []
        model = fit(answerer, [c for c in cases if c.split == "dev"], train=train)
        print(f"wrote {model.save(settings.models_dir or shipped_models_dir())}")
    started = time.perf_counter()
    results = evaluate(answerer, cases, MODES)
    report, md = build_report(results, answerer.model, ("dev", *args.show_misses))
    if clarifying:
        report["clarify"], clarify_md = clarify_section([run_clarify_case(answerer, c) for c in clarifying])
        md += "\n" + clarify_md
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    (args.out / "latest.md").write_text(md)
    write_plot(results, answerer.model, args.out / "latest.png")
    write_trec(results, args.out)
    if args.record_baseline:
        baseline = {
            split: {k: round(v, 4) for k, v in gate_metrics([o for o in results["full"] if o.case.split == split]).items()}
            for split in HEADLINE_SPLITS
        }
        if clarifying:
            baseline["clarify"] = {"answered_right_after_pick": round(report["clarify"]["all"]["answered_right_after_pick"], 4)}
        (args.gold.parent / "baseline.json").write_text(json.dumps(baseline, indent=2, sort_keys=True) + "\n")
        print(f"recorded the gate's baseline in {args.gold.parent / 'baseline.json'}")
    print(md)
    print(f"{len(cases)} cases x {len(results)} modes and {len(clarifying)} clarifying-turn cases in {time.perf_counter() - started:.1f}s; reports in {args.out}/")
    return 0
