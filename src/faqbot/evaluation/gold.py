"""The gold set: one case a line in eval/gold.jsonl (fields in PRODUCT.md, 'Evaluation')."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from faqbot.errors import FaqbotError

SPLITS = ("dev", "test", "heldout-pages")
# eval/train.jsonl: questions written only to fit on (never evaluated), on the pages of dev and test
TRAIN_SPLIT = "train"
# unanswerable kinds, each reported as its own "withheld" figure
UNANSWERABLE_KINDS = ("not-on-page", "out-of-scope", "absent-drug", "one-page-missing", "two-drug")


@dataclass(frozen=True)
class Case:
    """One gold question; `turns` are the earlier questions of the same conversation.

    A clarifying-turn case (tag "clarify") has one turn, a question that names no drug, and then
    `question`, the drug; `named` is the first question with the drug named in it, for comparison.
    """

    id: str
    question: str
    relevant: tuple[str, ...]
    doc_id: str | None
    answerable: bool
    tags: tuple[str, ...]
    split: str
    turns: tuple[str, ...] = ()
    named: str | None = None

    @property
    def clarify(self) -> bool:
        """A clarifying-turn case: scored on its own, never in the single-question figures or the fit."""
        return "clarify" in self.tags

    @property
    def kind(self) -> str | None:
        """For an unanswerable case, the kind it is counted under (the first matching tag)."""
        if self.answerable:
            return None
        return next((k for k in UNANSWERABLE_KINDS if k in self.tags), "other")


def load_gold(path: Path, splits: tuple[str, ...] = SPLITS) -> list[Case]:
    """Read eval/gold.jsonl (or, with splits=(TRAIN_SPLIT,), eval/train.jsonl); a malformed line is an error naming the line."""
    if not path.exists():
        raise FaqbotError(f"no gold set at {path}; pass --gold FILE")
    cases = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            case = Case(
                id=str(data["id"]),
                question=data["question"],
                relevant=tuple(data.get("relevant") or ()),
                doc_id=data.get("doc_id"),
                answerable=bool(data["answerable"]),
                tags=tuple(data.get("tags") or ()),
                split=data["split"],
                turns=tuple(data.get("turns") or ()),
                named=data.get("named"),
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise FaqbotError(f"{path}:{n}: not a gold case ({exc}); see PRODUCT.md 'Evaluation' for the fields") from exc
        if case.split not in splits:
            raise FaqbotError(f"{path}:{n}: split {case.split!r} is not one of {', '.join(splits)}")
        if case.clarify and (len(case.turns) != 1 or not case.named):
            raise FaqbotError(f"{path}:{n}: a 'clarify' case needs one turn (the question without a drug) and 'named'")
        if case.id in seen:
            raise FaqbotError(f"{path}:{n}: id {case.id!r} is used twice; give the case a new id")
        seen.add(case.id)
        cases.append(case)
    return cases
