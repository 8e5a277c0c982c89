"""The editors' report: what visitors asked that the pages do not answer, grouped so it says what to write next.

Unanswered questions (faqbot withheld the answer) are grouped by the drug they were about, then
clustered by meaning with the embedding model the index uses: average-linkage clustering of the
questions' vectors, with the drug's own names taken out first (inside one drug's group every
question names it, which would pull unrelated questions together). Each group has its size, its
trend, three example questions and the page section that came closest. Answers marked "not
helpful" are grouped by the passage that was shown. A chart of questions and unanswered share per
day comes with it. The same report is served as HTML, JSON and CSV and printed by `faqbot report`.

The store only hands over the raw log (Store.report_rows); all of the grouping happens here.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from threading import Lock
from typing import Any

import numpy as np

from faqbot.lexicon import edge_words
from faqbot.pages import normalise_name
from faqbot.vocabulary import generic_name

DAY = 86400.0
# cosine distance at which average-linkage clustering stops merging: two groups merge while their
# questions are on average closer than this. Chosen on the gold set's dev questions, names removed
# (bench/report_clustering.py: best agreement with the questions' answering passages, ARI 0.30)
THRESHOLD = 0.65
MAX_CLUSTERED = 3000  # unique questions of one drug clustered together; the rest join their nearest group
EXAMPLES = 3
COMMENTS = 3
CHART_DAYS = 30
NO_DRUG = "(no drug recognised)"
SUBSTITUTE = ""  # names are removed, not replaced: a shared stand-in word pulls every question of the drug together
# words a removed name leaves stranded at either end ("lisinopril and potassium" -> "and potassium"): dropped too,
# or every "and ..." question of a drug would look alike
EDGE_WORDS = edge_words()


@dataclass
class Row:
    """One logged question, as the report needs it."""

    ts: float
    question: str
    answered: bool
    doc_id: str | None
    chunk_id: str | None  # the passage shown as the answer
    closest_chunk_id: str | None  # the passage that came closest, shown or withheld
    helpful: bool | None
    comment: str | None
    clarify: bool = False  # faqbot asked "which medicine?": the question comes again, answered, with the pick

    @classmethod
    def from_store(cls, row: dict[str, Any]) -> Row:
        helpful = row.get("helpful")
        return cls(
            ts=float(row["ts"]),
            question=str(row["question"]),
            answered=bool(row["answered"]),
            doc_id=row.get("doc_id"),
            chunk_id=row.get("chunk_id"),
            closest_chunk_id=row.get("closest_chunk_id") or row.get("chunk_id"),
            helpful=None if helpful is None else bool(helpful),
            comment=row.get("comment"),
            clarify=bool(row.get("clarify")),
        )


class VectorCache:
    """Vectors of question texts already embedded, so that a report asked for again embeds only the new ones."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = Lock()  # two editors asking for the report at once share it

    def encode(self, embedder: Any, texts: list[str]) -> np.ndarray:
        with self._lock:
            return self._encode(embedder, texts)

    def _encode(self, embedder: Any, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        for start in range(0, len(missing), 256):
            batch = missing[start : start + 256]
            for text, vector in zip(batch, embedder.encode(batch)):
                self._vectors[text] = np.asarray(vector, dtype=np.float32)
        rows = []
        for text in texts:
            self._vectors.move_to_end(text)
            rows.append(self._vectors[text])
        while len(self._vectors) > self.size:
            self._vectors.popitem(last=False)
        if not rows:
            return np.zeros((0, 1), dtype=np.float32)
        matrix = np.stack(rows)
        return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def cluster(vectors: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Average-linkage clusters of unit vectors by cosine distance: one label per row, 0..k-1."""
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=int)
    if n == 1:
        return np.zeros(1, dtype=int)
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    head = min(n, MAX_CLUSTERED)
    distances = np.clip(pdist(vectors[:head].astype(np.float64), metric="cosine"), 0.0, 2.0)
    labels = np.zeros(n, dtype=int)
    labels[:head] = fcluster(linkage(distances, method="average"), t=threshold, criterion="distance") - 1
    if n > head:  # the rest join the nearest group's centroid when close enough, else stand alone
        k = int(labels[:head].max()) + 1
        centroids = np.stack([vectors[:head][labels[:head] == c].mean(axis=0) for c in range(k)])
        centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
        sims = vectors[head:] @ centroids.T
        best = sims.argmax(axis=1)
        for i, (b, s) in enumerate(zip(best, sims[np.arange(len(best)), best])):
            if 1.0 - s <= threshold:
                labels[head + i] = b
            else:
                labels[head + i] = k
                k += 1
    return labels


def strip_names(question: str, names: Iterable[str]) -> str:
    """The question in normalised form with the drug's names replaced: what it asks, not about which drug."""
    text = normalise_name(question)
    for name in sorted({normalise_name(n) for n in names if normalise_name(n)}, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(name)}\b", SUBSTITUTE, text)
    words = text.split()
    while words and words[0] in EDGE_WORDS:
        words.pop(0)
    while words and words[-1] in EDGE_WORDS:
        words.pop()
    return " ".join(words) or normalise_name(question) or question.lower()


def _window(rows: list[Row], start: float, end: float) -> int:
    return sum(1 for r in rows if start <= r.ts < end)


def trend(rows: list[Row], now: float, log_start: float) -> dict[str, Any]:
    """Counts of the last 7 and 30 days against the 30 days before each, as rates per day.

    log_start: the oldest moment the log can hold (FAQBOT_LOG_DAYS, or its first row): a window
    before it is not "none asked", it is unknown.
    """

    def compare(days: int) -> dict[str, Any]:
        recent = _window(rows, now - days * DAY, now + 1.0)
        before_start, before_end = now - (days + 30) * DAY, now - days * DAY
        covered = (before_end - max(before_start, log_start)) / DAY
        if covered < 1.0:
            return {"count": recent, "before": None, "change": None}
        before = _window(rows, max(before_start, log_start), before_end)
        rate, base = recent / days, before / covered
        change = None if base == 0 else round(rate / base - 1.0, 2)
        return {"count": recent, "before": before, "before_days": round(covered, 1), "change": change}

    week, month = compare(7), compare(30)
    label = "unknown"
    for window in (week, month):
        if window["before"] is None:
            continue
        if window["before"] == 0:
            label = "new" if window["count"] else "steady"
        elif window["change"] >= 0.5:
            label = "rising"
        elif window["change"] <= -0.5:
            label = "falling"
        else:
            label = "steady"
        break
    return {"last_7_days": week, "last_30_days": month, "label": label}


def _chunk_info(chunk_id: str | None, index: Any) -> dict[str, Any] | None:
    if not chunk_id:
        return None
    chunk = None
    if index is not None:
        position = _chunk_positions(index).get(chunk_id)
        chunk = index.chunks[position] if position is not None else None
    if chunk is None:  # a passage no longer in the index (page edited or removed): keep what the log says
        doc_id, _, anchor = chunk_id.partition("#")
        return {"chunk_id": chunk_id, "doc_id": doc_id, "title": doc_id, "section": anchor, "url": f"/pages/{doc_id}#{anchor}"}
    section = f"FAQ: {chunk.question}" if chunk.kind == "faq" else chunk.section
    return {
        "chunk_id": chunk.chunk_id,
        "doc_id": chunk.doc_id,
        "title": chunk.title,
        "section": section,
        "url": f"/pages/{chunk.doc_id}#{chunk.anchor}",
    }


_positions: dict[tuple[int, str, int], dict[str, int]] = {}


def _chunk_positions(index: Any) -> dict[str, int]:
    key = (id(index), str(getattr(index, "version", "")), len(index.chunks))
    if key not in _positions:
        _positions.clear()  # one index at a time: a new build replaces the old table
        _positions[key] = {c.chunk_id: i for i, c in enumerate(index.chunks)}
    return _positions[key]


def _nearest_chunk(centroid: np.ndarray, doc_id: str | None, index: Any) -> str | None:
    """The passage whose vector is closest to a group's centroid (for rows logged before closest passages were)."""
    if index is None or getattr(index, "vectors", None) is None or len(index.vectors) == 0:
        return None
    if index.vectors.shape[1] != centroid.shape[0]:
        return None
    rows = np.arange(len(index.vectors))
    if doc_id is not None and doc_id in index.chunk_rows:
        rows = rows[np.isin(index.vector_chunk, index.chunk_rows[doc_id])]
    if len(rows) == 0:
        return None
    best = rows[int(np.argmax(index.vectors[rows] @ centroid))]
    return str(index.chunks[int(index.vector_chunk[best])].chunk_id)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _drug(doc_id: str | None, index: Any) -> dict[str, str] | None:
    if doc_id is None:
        return None
    info = index.drugs.get(doc_id) if index is not None else None
    return {"doc_id": doc_id, "title": info.title if info is not None else doc_id}


def unanswered_groups(
    rows: list[Row],
    *,
    now: float,
    log_start: float,
    embedder: Any,
    index: Any = None,
    find: Callable[[str], list[Any]] | None = None,
    threshold: float = THRESHOLD,
    cache: VectorCache | None = None,
    members: bool = False,
) -> list[dict[str, Any]]:
    """Withheld questions by drug, then by meaning; largest group first. members: list every wording of each group."""
    cache = cache or VectorCache()
    by_drug: dict[str | None, list[Row]] = {}
    for row in rows:
        by_drug.setdefault(row.doc_id, []).append(row)
    groups: list[dict[str, Any]] = []
    for doc_id, drug_rows in by_drug.items():
        names: list[str] = []
        if doc_id is not None:
            names = [doc_id.replace("-", " ")]
            if index is not None and doc_id in index.drugs:
                names += list(index.drugs[doc_id].names)
        texts: dict[str, str] = {}  # question as asked -> the text that is clustered
        for row in drug_rows:
            if row.question not in texts:
                own = list(names)
                if find is not None and doc_id is not None:  # misspelt names too ("warfrin")
                    own += [m.matched for m in find(row.question) if m.doc_id == doc_id]
                texts[row.question] = strip_names(row.question, own)
        unique = list(dict.fromkeys(texts[r.question] for r in drug_rows))
        counts = Counter(texts[r.question] for r in drug_rows)
        unique.sort(key=lambda t: -counts[t])  # the most asked are clustered first (MAX_CLUSTERED)
        vectors = cache.encode(embedder, unique) if embedder is not None else np.zeros((0, 1), dtype=np.float32)
        # without a model each distinct wording is its own group
        labels = cluster(vectors, threshold) if embedder is not None else np.arange(len(unique))
        label_of = dict(zip(unique, labels))
        by_label: dict[int, list[Row]] = {}
        for row in drug_rows:
            by_label.setdefault(int(label_of[texts[row.question]]), []).append(row)
        for label, group_rows in by_label.items():
            keys = [i for i, t in enumerate(unique) if label_of[t] == label]
            centroid = None
            if embedder is not None:
                centroid = vectors[keys].mean(axis=0)
                centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
            groups.append(_group("unanswered", doc_id, group_rows, now, log_start, index, centroid, vectors, unique, keys, texts))
            if members:
                groups[-1]["questions"] = sorted({r.question for r in group_rows})
    groups.sort(key=lambda g: (-g["size"], -g["trend"]["last_7_days"]["count"], g["examples"][0].lower()))
    for n, group in enumerate(groups, 1):
        group["id"] = f"u{n}"
    return groups


def missing_pages(
    rows: list[Row], *, now: float, log_start: float, find: Callable[[str], list[Any]] | None = None
) -> list[dict[str, Any]]:
    """Medicines visitors name that no page covers, by generic name, most asked first: the pages to write next.

    Every question counts, answered or not: "aleve and advil" is answered from the ibuprofen page and still
    asks about naproxen. Brands and other names are gathered under the generic name the drug vocabulary gives
    ("aleve", "naprosyn": naproxen); `names` lists the words visitors used, most used first.
    """
    if find is None:
        return []
    by_drug: dict[str, dict[int, Row]] = {}
    used: dict[str, Counter[str]] = {}
    for n, row in enumerate(rows):
        for match in find(row.question):
            if match.doc_id is None:
                drug = generic_name(match.matched) or match.matched.lower()
                by_drug.setdefault(drug, {})[n] = row
                used.setdefault(drug, Counter())[match.matched.lower()] += 1
    out: list[dict[str, Any]] = []
    for drug, found in by_drug.items():
        drug_rows = sorted(found.values(), key=lambda r: -r.ts)
        asked = Counter(r.question for r in drug_rows)
        out.append({
            "id": "",
            "kind": "no page",
            "medicine": drug,
            "names": [name for name, _ in sorted(used[drug].items(), key=lambda kv: (-kv[1], kv[0]))],
            "size": len(drug_rows),
            "distinct": len(asked),
            "answered": sum(r.answered for r in drug_rows),
            "trend": trend(drug_rows, now, log_start),
            "examples": sorted(asked, key=lambda q: (-asked[q], q))[:EXAMPLES],
            "last_asked": _iso(drug_rows[0].ts),
        })  # fmt: skip
    out.sort(key=lambda g: (-g["size"], -g["trend"]["last_7_days"]["count"], g["medicine"]))
    for n, group in enumerate(out, 1):
        group["id"] = f"m{n}"
    return out


def _group(
    kind: str,
    doc_id: str | None,
    rows: list[Row],
    now: float,
    log_start: float,
    index: Any,
    centroid: np.ndarray | None = None,
    vectors: np.ndarray | None = None,
    unique: list[str] | None = None,
    keys: list[int] | None = None,
    texts: dict[str, str] | None = None,
) -> dict[str, Any]:
    asked = Counter(r.question for r in rows)
    if centroid is not None and vectors is not None and unique is not None and keys is not None and texts is not None:
        closeness = {unique[i]: float(vectors[i] @ centroid) for i in keys}
        order = sorted(asked, key=lambda q: (-closeness[texts[q]], -asked[q], q))  # the most typical wording first
    else:
        order = sorted(asked, key=lambda q: (-asked[q], q))
    examples: list[str] = []
    seen: set[str] = set()
    for question in order:
        if normalise_name(question) not in seen:
            seen.add(normalise_name(question))
            examples.append(question)
        if len(examples) == EXAMPLES:
            break
    closest_ids = Counter(r.closest_chunk_id for r in rows if r.closest_chunk_id)
    closest_id = closest_ids.most_common(1)[0][0] if closest_ids else None
    if closest_id is None and centroid is not None:
        closest_id = _nearest_chunk(centroid, doc_id, index)
    comments = list(dict.fromkeys(r.comment.strip() for r in sorted(rows, key=lambda r: -r.ts) if r.comment and r.comment.strip()))[:COMMENTS]
    return {
        "id": "",
        "kind": kind,
        "drug": _drug(doc_id, index),
        "size": len(rows),
        "distinct": len(asked),
        "trend": trend(rows, now, log_start),
        "examples": examples,
        "closest": _chunk_info(closest_id, index),
        "comments": comments,
        "last_asked": _iso(max(r.ts for r in rows)),
    }


def unhelpful_groups(rows: list[Row], *, now: float, log_start: float, index: Any = None) -> list[dict[str, Any]]:
    """Answers marked not helpful, by the passage shown (withheld answers by drug); largest first."""
    by_passage: dict[tuple[str | None, str | None], list[Row]] = {}
    for row in rows:
        shown = row.chunk_id if row.answered else None
        by_passage.setdefault((shown, None if shown else row.doc_id), []).append(row)
    groups = []
    for (shown, doc_id), group_rows in by_passage.items():
        group = _group("not helpful", doc_id if shown is None else (shown.partition("#")[0]), group_rows, now, log_start, index)
        group["shown"] = _chunk_info(shown, index)  # None: faqbot withheld the answer, nothing was shown
        if shown is not None:
            group["closest"] = group["shown"]
        groups.append(group)
    groups.sort(key=lambda g: (-g["size"], g["examples"][0].lower()))
    for n, group in enumerate(groups, 1):
        group["id"] = f"h{n}"
    return groups


def daily(rows: list[Row], now: float, days: int = CHART_DAYS) -> list[dict[str, Any]]:
    """Questions and unanswered ones per UTC day, the last `days` days up to today."""
    today = datetime.fromtimestamp(now, UTC).date()
    first = today - timedelta(days=days - 1)
    asked: Counter[str] = Counter()
    withheld: Counter[str] = Counter()
    for row in rows:
        day = datetime.fromtimestamp(row.ts, UTC).date()
        if first <= day <= today:
            asked[day.isoformat()] += 1
            withheld[day.isoformat()] += 0 if row.answered else 1
    out = []
    for n in range(days):
        day_name = (first + timedelta(days=n)).isoformat()
        share = withheld[day_name] / asked[day_name] if asked[day_name] else None
        out.append({"day": day_name, "questions": asked[day_name], "unanswered": withheld[day_name],
                    "unanswered_share": None if share is None else round(share, 3)})  # fmt: skip
    return out


def build_report(
    store_rows: list[dict[str, Any]],
    *,
    now: float,
    log_days: int,
    embedder: Any,
    index: Any = None,
    find: Callable[[str], list[Any]] | None = None,
    threshold: float = THRESHOLD,
    cache: VectorCache | None = None,
    members: bool = False,
) -> dict[str, Any]:
    """The report over the rows of Store.report_rows (the last 60 days or what the log keeps)."""
    logged = [Row.from_store(r) for r in store_rows]
    rows = [r for r in logged if not r.clarify]
    log_start = now - log_days * DAY
    if rows:
        log_start = max(log_start, min(r.ts for r in rows))
    withheld = [r for r in rows if not r.answered]
    unhelpful = [r for r in logged if r.helpful is False]  # a click on a clarifying turn is feedback too
    days = daily(rows, now)
    return {
        "generated_at": _iso(now),
        "log_days": log_days,
        "model": getattr(embedder, "model_id", None),
        "threshold": threshold,
        "totals": {
            "questions": len(rows),
            "asked_which_medicine": len(logged) - len(rows),
            "unanswered": len(withheld),
            "not_helpful": len(unhelpful),
            "last_30_days": sum(d["questions"] for d in days),
        },
        "daily": days,
        "unanswered": unanswered_groups(
            withheld, now=now, log_start=log_start, embedder=embedder, index=index, find=find, threshold=threshold, cache=cache,
            members=members,
        ),
        "not_helpful": unhelpful_groups(unhelpful, now=now, log_start=log_start, index=index),
        "missing_pages": missing_pages(rows, now=now, log_start=log_start, find=find),
    }


def since(now: float) -> float:
    """The oldest question a report reads: 60 days back (the last 30 and the 30 before)."""
    return now - 60 * DAY


# ---- views ---------------------------------------------------------------------------------------

TREND_WORDS = {"rising": "↑ rising", "falling": "↓ falling", "steady": "→ steady", "new": "★ new", "unknown": "–"}
CSV_FIELDS = [
    "group", "kind", "drug", "drug_title", "size", "distinct_questions", "last_7_days", "last_30_days",
    "previous_30_days", "trend", "example_1", "example_2", "example_3", "closest_section", "closest_url",
    "passage_shown", "comments", "last_asked", "names_asked",
]  # fmt: skip


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: visitors' words starting with = + - @ are not formulas."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _group_cells(group: dict[str, Any]) -> dict[str, str]:
    """The CSV cells every kind of group has: its id and kind, counts, trend, examples, last asked."""
    examples = group["examples"] + [""] * EXAMPLES
    trend_ = group["trend"]
    before = trend_["last_30_days"]["before"]
    return {
        "group": group["id"],
        "kind": group["kind"],
        "size": str(group["size"]),
        "distinct_questions": str(group["distinct"]),
        "last_7_days": str(trend_["last_7_days"]["count"]),
        "last_30_days": str(trend_["last_30_days"]["count"]),
        "previous_30_days": "" if before is None else str(before),
        "trend": trend_["label"],
        "example_1": examples[0],
        "example_2": examples[1],
        "example_3": examples[2],
        "last_asked": group["last_asked"],
    }


def csv_rows(report: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for group in report["unanswered"] + report["not_helpful"]:
        closest = group.get("closest") or {}
        shown = group.get("shown") or {}
        out.append(
            {
                **_group_cells(group),
                "drug": (group["drug"] or {}).get("doc_id", ""),
                "drug_title": (group["drug"] or {}).get("title", NO_DRUG),
                "closest_section": f"{closest['title']} › {closest['section']}" if closest else "",
                "closest_url": closest.get("url", ""),
                "passage_shown": shown.get("chunk_id", "") if group["kind"] == "not helpful" else "",
                "comments": " | ".join(group.get("comments") or []),
                "names_asked": "",
            }
        )
    for group in report.get("missing_pages", []):
        out.append({
            **_group_cells(group), "drug": "", "drug_title": group["medicine"], "closest_section": "", "closest_url": "",
            "passage_shown": "", "comments": "", "names_asked": " | ".join(group["names"]),
        })  # fmt: skip
    return out


def to_csv(report: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for row in csv_rows(report):
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue()


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _table_head(title: str, name: str, last: str) -> list[str]:
    return ["", title, f"  {'size':>5} {'7d':>4} {'30d':>4} {'prev30':>6}  {'trend':<10} {name:<22} {last}"]


def _table_line(g: dict[str, Any], name: str, last: str) -> str:
    """One group's line: size, the trend's counts and label, then its name and one more column."""
    before = g["trend"]["last_30_days"]["before"]
    return (
        f"  {g['size']:>5} {g['trend']['last_7_days']['count']:>4} {g['trend']['last_30_days']['count']:>4} "
        f"{'-' if before is None else before:>6}  {g['trend']['label']:<10} {_clip(name, 22):<22} {_clip(last, 70)}"
    )


def to_table(report: dict[str, Any], limit: int = 20) -> str:
    """The report for a terminal: one line a group, the examples and the closest section under it."""
    t = report["totals"]
    lines = [
        f"faqbot report, {report['generated_at']}: {t['questions']} questions logged, {t['unanswered']} unanswered, "
        f"{t['not_helpful']} marked not helpful (the log keeps {report['log_days']} days)",
        *_table_head("Unanswered questions, grouped by drug and meaning (largest first):", "drug", "example"),
    ]
    lines += _table_groups(report["unanswered"][:limit])
    if len(report["unanswered"]) > limit:
        lines.append(f"  … {len(report['unanswered']) - limit} more groups (faqbot report --limit N, or --json)")
    lines += _table_head("Answers marked not helpful, by the passage shown:", "drug", "example")
    lines += _table_groups(report["not_helpful"][:limit])
    lines += _table_head("Medicines asked about that no page covers (pages to write), by generic name:", "medicine", "names asked")
    missing = report.get("missing_pages", [])
    if not missing:
        lines.append("  (none)")
    for g in missing[:limit]:
        lines.append(_table_line(g, g["medicine"], ", ".join(g["names"])))
        lines.append(f"  {'':>45} {_clip(g['examples'][0], 70)}")
    return "\n".join(lines)


def _table_groups(groups: list[dict[str, Any]]) -> list[str]:
    if not groups:
        return ["  (none)"]
    lines = []
    for g in groups:
        lines.append(_table_line(g, (g["drug"] or {}).get("title", NO_DRUG), g["examples"][0]))
        for example in g["examples"][1:]:
            lines.append(f"  {'':>45} {_clip(example, 70)}")
        if g["kind"] == "not helpful":
            shown = g.get("shown")
            lines.append(f"  {'':>45} shown: {shown['title'] + ' › ' + shown['section'] + '  ' + shown['url'] if shown else 'nothing (faqbot withheld the answer)'}")
            for comment in g.get("comments") or []:
                lines.append(f"  {'':>45} comment: {_clip(comment, 70)}")
        elif g.get("closest"):
            c = g["closest"]
            lines.append(f"  {'':>45} closest: {c['title']} › {c['section']}  {c['url']}")
    return lines


def chart(report: dict[str, Any], width: int = 600, height: int = 180) -> dict[str, Any]:
    """Geometry of the per-day chart (bars: questions; line: unanswered share), drawn by the template as SVG."""
    days = report["daily"]
    left, right, top, bottom = 34, 42, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    most = max([d["questions"] for d in days] + [1])
    scale = _nice_max(most)
    step = plot_w / max(len(days), 1)
    bars, points = [], []
    for i, d in enumerate(days):
        h = plot_h * d["questions"] / scale
        x = left + i * step
        bars.append({"x": round(x + step * 0.15, 1), "y": round(top + plot_h - h, 1), "w": round(step * 0.7, 1), "h": round(h, 1),
                     "label": f"{d['day']}: {d['questions']} questions, {d['unanswered']} unanswered"})  # fmt: skip
        if d["unanswered_share"] is not None:
            points.append({"x": round(x + step / 2, 1), "y": round(top + plot_h * (1 - d["unanswered_share"]), 1)})
    ticks = [{"y": round(top + plot_h * (1 - f), 1), "count": round(scale * f), "share": f"{f:.0%}"} for f in (0.0, 0.5, 1.0)]
    first, last = (days[0]["day"], days[-1]["day"]) if days else ("", "")
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "line": " ".join(f"{p['x']},{p['y']}" for p in points),
        "points": points,
        "ticks": ticks,
        "left": left,
        "right": width - right,
        "baseline": top + plot_h,
        "first": first,
        "last": last,
        "label_y": height - 6,
    }


def _nice_max(value: int) -> int:
    """A round number at or above value for the chart's scale (1, 2, 5, 10, 20, 50, ...)."""
    magnitude = 10 ** max(0, int(math.floor(math.log10(max(value, 1)))))
    for factor in (1, 2, 5, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def adjusted_rand_index(truth: list[Any], found: list[Any]) -> float:
    """Agreement of two groupings of the same items, 1 identical, about 0 for a random one (Hubert & Arabie 1985)."""
    pairs = Counter(zip(truth, found))

    def comb2(counts: Iterable[int]) -> float:
        return float(sum(c * (c - 1) / 2 for c in counts))

    both = comb2(pairs.values())
    a, b = comb2(Counter(truth).values()), comb2(Counter(found).values())
    total = len(truth) * (len(truth) - 1) / 2
    expected = a * b / total if total else 0.0
    top = (a + b) / 2 - expected
    return 1.0 if top == 0 else (both - expected) / top
