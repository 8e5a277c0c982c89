"""The fitted model: ranking weights and priors, the answerability (aspect) model, calibration, threshold.

Fitted on the dev split by `faqbot eval --fit` and kept in the models folder: the repo's `models/`
(shipped inside the package as `faqbot.artifacts`), or the folder FAQBOT_MODELS_DIR names. The
folder's manifest.json says of each file what it is, what it was fitted on, when, and its sha256.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from faqbot.index import write_atomic

# the ranking signals of a candidate passage that the fitted weights mix (see ranking.fuse)
SIGNALS = ("dense", "lexical", "topic", "faq", "passage", "later_part", "kind", "sentence", "sentence_pair")
# the signals the confidence that the top passage answers is computed from (see decision.features)
RANKER_FILE = "ranker.json"
MANIFEST_FILE = "manifest.json"
FEATURES = (
    "fused", "margin", "dense", "lexical", "named", "fuzzy", "context", "topic", "asks_covered", "coverage", "page_miss",
    "kind", "sentence", "sentence_pair",
)  # fmt: skip


@dataclass
class Model:
    """Fusion weights, calibration and threshold; fitted on the dev split by `faqbot eval --fit`."""

    weights: dict[str, float] = field(default_factory=lambda: {"dense": 1.0, "lexical": 0.3, "topic": 0.08, "faq": 0.0})
    coef: dict[str, float] = field(
        default_factory=lambda: {"fused": 6.0, "margin": 4.0, "dense": 2.0, "lexical": 0.0, "named": 2.0, "fuzzy": -0.5,
                                 "context": 0.5, "topic": 0.3}
    )  # fmt: skip
    # learned bonus per kind of passage (leaf heading, or "faq"), shared by all pages
    priors: dict[str, float] = field(default_factory=dict)
    intercept: float = -6.0
    threshold: float = 0.5
    # logistic weights over the query vector (last entry: bias): "does the question ask something pages cover?"
    aspect: list[float] = field(default_factory=list)
    # softmax regression over the query vector: which kind of passage (a prior key: leaf heading or
    # "faq") answers the question; kind_weights has one row per vector dimension, then the bias row
    kinds: list[str] = field(default_factory=list)
    kind_weights: list[list[float]] = field(default_factory=list)
    fitted_on: str = "defaults"
    # the pages the fit saw; a question locked to any other page is answered by `new_pages`: this class's fields,
    # fitted with page_axis on. The vector models above learn which of dev's pages drew which questions as much as
    # kinds of questions (aspect AUC 0.896 on dev's pages, 0.839 on pages left out of the fit).
    fitted_pages: list[str] = field(default_factory=list)
    new_pages: dict[str, Any] = field(default_factory=dict)
    # the vector models read the question without its part along its page's axis (Ranker.page_axes)
    page_axis: bool = False
    # the vector models' weights as arrays, made once per fitted list (not saved); each holds the list it was
    # made from, so a list fitted later is never mistaken for it (an id() could be reused by a new list)
    _kind_matrix: tuple[list[list[float]], np.ndarray] | None = field(default=None, init=False, repr=False, compare=False)
    _aspect_vector: tuple[list[float], np.ndarray] | None = field(default=None, init=False, repr=False, compare=False)
    _new_pages_model: tuple[dict[str, Any], Model] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def load(cls, models_dir: Path | None = None) -> Model:
        """The fitted model in models_dir (default: the one shipped with faqbot); defaults when there is none."""
        try:
            folder = models_dir or shipped_models_dir()
            text = (folder / RANKER_FILE).read_text()
        except (FileNotFoundError, OSError):
            return cls()
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def save(self, models_dir: Path) -> Path:
        """Write the model into models_dir and record it in the folder's manifest."""
        models_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.as_dict(), indent=2, sort_keys=True) + "\n"
        write_atomic(models_dir / RANKER_FILE, text)
        record_artifact(models_dir, RANKER_FILE, text.encode(), {
            "what": "ranking weights and heading priors (listwise), question-kind model and answerability model over "
                    "the query vector, calibration over FEATURES and the answer threshold; the same again (new_pages) "
                    "for pages not in fitted_pages, reading the question off its page's axis",
            "fitted_on": self.fitted_on,
            "fitted_pages": self.fitted_pages,
            "features": list(FEATURES),
        })  # fmt: skip
        return models_dir / RANKER_FILE

    def as_dict(self) -> dict[str, Any]:
        """The fitted values, as saved (no caches)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__ if not name.startswith("_")}

    def summary(self) -> dict[str, Any]:
        """The fitted values for a report: the vector models' weights are only counted."""
        values = self.as_dict()
        for name in ("aspect", "kind_weights"):
            values[name] = f"{len(values[name])} rows"
        if self.new_pages:
            values["new_pages"] = self.for_new_pages().summary()
        return values

    def for_pages(self, doc_ids: list[str] | None) -> Model:
        """The model that ranks and decides for a question locked to doc_ids: this one, or new_pages when that is
        one page the fit never saw. A question on no page or on two keeps this one."""
        if not self.new_pages or doc_ids is None or len(doc_ids) != 1 or doc_ids[0] in self.fitted_pages:
            return self
        return self.for_new_pages()

    def for_new_pages(self) -> Model:
        """new_pages as a Model, made once per fitted dict (see _kind_matrix)."""
        if self._new_pages_model is None or self._new_pages_model[0] is not self.new_pages:
            fields = {k: v for k, v in self.new_pages.items() if k in self.__dataclass_fields__ and not k.startswith("_")}
            self._new_pages_model = (self.new_pages, Model(**fields))
        return self._new_pages_model[1]

    def weight_vector(self, mode: str = "full") -> np.ndarray:
        """The weights over SIGNALS a ranking mode mixes with (the ablation modes keep one or two signals)."""
        if mode == "lexical":
            return np.array([float(s == "lexical") for s in SIGNALS])
        if mode == "dense":
            return np.array([float(s == "dense") for s in SIGNALS])
        kept = SIGNALS if mode == "full" else ("dense", "lexical")
        return np.array([self.weights.get(s, 0.0) if s in kept else 0.0 for s in SIGNALS])

    def asks_covered(self, query_vector: np.ndarray | None) -> float:
        """Log-odds that a question asks about an aspect the pages cover (0 without a fitted model)."""
        if not self.aspect or query_vector is None or len(self.aspect) != len(query_vector) + 1:
            return 0.0
        if self._aspect_vector is None or self._aspect_vector[0] is not self.aspect:
            self._aspect_vector = (self.aspect, np.array(self.aspect[:-1]))
        return float(np.dot(self._aspect_vector[1], query_vector) + self.aspect[-1])

    def kind_log_probs(self, query_vector: np.ndarray | None) -> np.ndarray | None:
        """log P(kind | question) for each of self.kinds; None without a fitted kind model or a query vector."""
        if not self.kinds or query_vector is None or len(self.kind_weights) != len(query_vector) + 1:
            return None
        if self._kind_matrix is None or self._kind_matrix[0] is not self.kind_weights:
            self._kind_matrix = (self.kind_weights, np.array(self.kind_weights, dtype=np.float32))
        matrix = self._kind_matrix[1]
        scores = query_vector @ matrix[:-1] + matrix[-1]
        scores = scores - scores.max()
        return scores - np.log(np.exp(scores).sum())

    def probability(self, features: dict[str, float]) -> float:
        z = self.intercept + sum(self.coef.get(name, 0.0) * features.get(name, 0.0) for name in FEATURES)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def shipped_models_dir() -> Path:
    """The models folder that ships with faqbot (the repo's models/, packaged as faqbot.artifacts)."""
    return Path(str(resources.files("faqbot.artifacts")))


def record_artifact(models_dir: Path, name: str, content: bytes, details: dict[str, Any]) -> None:
    """Add or replace one file's entry in models_dir/manifest.json: what it is, its data, when, sha256, size."""
    manifest_path = models_dir / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"artifacts": {}}
    manifest["artifacts"][name] = {
        **details,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256": hashlib.sha256(content).hexdigest(),
        "bytes": len(content),
    }
    write_atomic(manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
