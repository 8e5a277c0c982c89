"""The fitted model: ranking weights and priors, the answerability (aspect) model, calibration, threshold.

Fitted on the dev split by `faqbot eval --fit`; loaded from the models folder (see artifacts.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

# the ranking signals of a candidate passage that the fitted weights mix (see ranking.fuse)
SIGNALS = ("dense", "lexical", "topic", "faq", "passage", "later_part")
# the signals the confidence that the top passage answers is computed from (see decision.features)
FEATURES = (
    "fused", "margin", "dense", "lexical", "named", "fuzzy", "context", "topic", "asks_covered", "coverage", "page_miss",
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
    fitted_on: str = "defaults"

    @classmethod
    def load(cls, path: Path | None = None) -> Model:
        try:
            text = path.read_text() if path else resources.files("faqbot").joinpath("model.json").read_text()
        except (FileNotFoundError, OSError):
            return cls()
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2, sort_keys=True) + "\n")

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
        return float(np.dot(self.aspect[:-1], query_vector) + self.aspect[-1])

    def probability(self, features: dict[str, float]) -> float:
        z = self.intercept + sum(self.coef.get(name, 0.0) * features.get(name, 0.0) for name in FEATURES)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
