"""How the editors' report's clustering threshold was chosen: gold dev questions grouped by drug and meaning.

Not a test. Each dev question of the gold set with a drug and a relevant passage gets two labels: its
first relevant passage (fine: many singletons), and the connected groups of "shares a relevant
passage" (coarse: a summary passage relevant to many questions chains topics together). The
report's clustering (names taken out, average linkage, cosine distance threshold) groups each
drug's questions; the adjusted Rand index against each labelling is printed per threshold, with
the number of groups found. Only the dev split is read. With the names removed the fine labels
peak at 0.65 (ARI 0.30; with the names replaced by "the medicine" the best was 0.20, at 0.45),
which the report uses; the coarse labels keep rising with the threshold, as one chain of topics would.

Then the time one report takes over tests/report_log.py's synthetic log of 2,000 withheld
questions: the first time (every question embedded) and again (vectors kept, as the server does).

    python bench/report_clustering.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from faqbot.analysis import DrugMatcher
from faqbot.embedding import load_embedder
from faqbot.index import load_index
from faqbot.report import VectorCache, adjusted_rand_index, build_report, cluster, strip_names

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.report_log, when run as a script
from tests.report_log import synthetic_questions  # noqa: E402


def intents(cases: list[dict]) -> dict[str, str]:
    """Case id -> label: questions joined by a shared relevant passage (union-find)."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for case in cases:
        for chunk in case["relevant"]:
            parent[root(chunk)] = root(case["id"])
    return {c["id"]: root(c["id"]) for c in cases}


def main() -> int:
    cases = [json.loads(line) for line in (REPO / "eval" / "gold.jsonl").read_text().splitlines() if line.strip()]
    dev = [c for c in cases if c["split"] == "dev" and c.get("doc_id") and c["relevant"] and not c.get("turns")]
    index = load_index(REPO / "index")
    embedder = load_embedder("packaged", REPO / "index" / "models")
    cache = VectorCache()
    by_drug: dict[str, list[dict]] = {}
    for case in dev:
        by_drug.setdefault(case["doc_id"], []).append(case)
    label = intents(dev)
    print(f"{len(dev)} dev questions, {len(by_drug)} drugs, {len(set(label.values()))} labels")
    print(f"fine labels: {len({(c['doc_id'], c['relevant'][0]) for c in dev})}")
    print("| threshold | ARI fine | ARI coarse | groups |")
    print("|---|---|---|---|")
    for threshold in (0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85):
        truth, fine, found, groups = [], [], [], 0
        for doc_id, drug_cases in by_drug.items():
            names = [doc_id.replace("-", " "), *index.drugs[doc_id].names]
            vectors = cache.encode(embedder, [strip_names(c["question"], names) for c in drug_cases])
            labels = cluster(vectors, threshold)
            truth += [label[c["id"]] for c in drug_cases]
            fine += [(doc_id, c["relevant"][0]) for c in drug_cases]
            found += [(doc_id, int(label)) for label in labels]
            groups += len(np.unique(labels))
        print(f"| {threshold:.2f} | {adjusted_rand_index(fine, found):.3f} | {adjusted_rand_index(truth, found):.3f} | {groups} |")

    now = time.time()
    rows = [{"ts": now - (n % 50) * 3600, "question": q, "answered": 0, "doc_id": d, "chunk_id": None, "closest_chunk_id": None,
             "helpful": None, "comment": None} for n, (q, d, _) in enumerate(synthetic_questions())]  # fmt: skip
    find = DrugMatcher(index).find
    report_cache = VectorCache()
    print("\n| report over 2,000 withheld questions | seconds | groups |")
    print("|---|---|---|")
    for label in ("first (all embedded)", "again (vectors kept)"):
        started = time.perf_counter()
        report = build_report(rows, now=now, log_days=30, embedder=embedder, index=index, find=find, cache=report_cache)
        print(f"| {label} | {time.perf_counter() - started:.2f} | {len(report['unanswered'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
