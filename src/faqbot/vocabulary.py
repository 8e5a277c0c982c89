"""A maintained drug vocabulary: a drug's other names -> its generic name, offline.

From the `drug-named-entity-recognition` package (Fast Data Science, MIT licence; built from DrugBank,
MeSH, Wikipedia, MedlinePlus and NHS data), read from its own data file: 107,360 names of 20,070 drugs.
faqbot asks it about names its pages do not list: a brand whose generic has a page ("motrin": the
ibuprofen page), and a second drug without a page, whose generic a passage may name or list in a class
("aleve" is naproxen, one of the "NSAIDs such as ibuprofen, naproxen and diclofenac").

Its drugs also carry MeSH tree numbers: the named groups just above a drug ("ciprofloxacin": fluoroquinolones,
4-quinolones, quinolones) are groups a page may speak of it by ("Fluoroquinolone antibiotics increase the risk of
tendon rupture"), after its own name.

Only single words of four letters or more that are not English words (the packaged model's vocabulary)
are kept: the data also holds names like "diamonds" or "sits" (street names, typos of its sources),
and a visitor's "caps" or "sulfur" is not a drug to look up.
"""

from __future__ import annotations

import bz2
import importlib.util
import logging
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any

log = logging.getLogger(__name__)

PACKAGE = "drug_named_entity_recognition"
DATA_FILE = "drug_ner_dictionary.pkl.bz2"
NAME_RE = re.compile(r"[a-z]{4,}")
QUALIFIER_RE = re.compile(r"\s*\(.*\)\s*$")  # a use in brackets after the generic name


def data_path() -> Path | None:
    """The vocabulary's data file inside its installed package, or None when it is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / DATA_FILE
    return path if path.exists() else None


PHARMACOLOGICAL_ACTIONS = "D27."
GROUP_LEVELS = 3  # named MeSH groups above a drug taken as its groups: "fluoroquinolones", not "heterocyclic compounds"


def is_class(entry: dict[str, Any]) -> bool:
    """Whether a vocabulary entry is a group of medicines by what they do (MeSH tree D27, pharmacological actions)."""
    return any(str(number).startswith(PHARMACOLOGICAL_ACTIONS) for number in entry.get("mesh_tree") or ())


@dataclass(frozen=True)
class Vocabulary:
    generics: dict[str, str]  # name (lower case, one word) -> generic name (lower case)
    groups: dict[str, tuple[str, ...]]  # generic name -> the named groups just above it, nearest first


_loading = Lock()
_read: Vocabulary | None = None


def vocabulary() -> Vocabulary:
    """The vocabulary, read once per process (about 0.8 s; `DrugMatcher` asks for it when an index is loaded,
    before any question). Empty, with a warning, when the package is not installed."""
    global _read
    if _read is None:
        with _loading:  # one read, however many requests arrive while it runs
            if _read is None:
                _read = read_vocabulary()
    return _read


def forget() -> None:
    """Read the vocabulary again on next use (after the package was installed or removed)."""
    global _read
    with _loading:
        _read = None


def read_vocabulary() -> Vocabulary:
    """The vocabulary from the installed package's data file."""
    from faqbot.analysis import wordpiece_vocab

    path = data_path()
    if path is None:
        log.warning("the drug vocabulary (%s) is not installed: brand names the pages do not list stay unknown", PACKAGE)
        return Vocabulary({}, {})
    with bz2.open(path, "rb") as f:
        data = pickle.load(f)  # the installed package's own data, as trusted as its code
    english = wordpiece_vocab()
    drugs = data["drug_canonical_to_data"]
    generics: dict[str, str] = {}
    for name, names in data["drug_variant_to_canonical"].items():
        if len(names) != 1 or is_class(drugs.get(names[0], {})):
            continue  # "antidepressant" is the group "antidepressive agents": a question naming it names no drug
        if NAME_RE.fullmatch(name) and name not in english:
            generics[name] = QUALIFIER_RE.sub("", str(names[0]).lower())  # "alemtuzumab (multiple sclerosis)"
    named_at: dict[str, str] = {}  # tree number -> the vocabulary's name for it
    for name in sorted(drugs):
        if drugs[name].get("drugbank_id"):
            continue  # a drug, not a group: cetirizine sits under hydroxyzine, and is not spoken of by it
        for number in drugs[name].get("mesh_tree") or ():
            named_at.setdefault(number, str(name).lower())
    groups: dict[str, tuple[str, ...]] = {}
    for name, entry in drugs.items():
        found: list[str] = []
        for number in entry.get("mesh_tree") or ():
            parts = number.split(".")
            for depth in range(len(parts) - 1, max(0, len(parts) - 1 - GROUP_LEVELS), -1):
                group = named_at.get(".".join(parts[:depth]))
                # "hydrocarbons, aromatic": chemistry, not a group a page would speak of a medicine by
                if group and "," not in group and group not in found:
                    found.append(group)
        if found:
            groups[str(name).lower()] = tuple(found)
    return Vocabulary(generics, groups)


def generic_name(name: str) -> str | None:
    """The generic name the vocabulary gives for one word ("aleve" -> "naproxen"); None if it knows none."""
    return vocabulary().generics.get(name.lower())


def drug_groups(generic: str) -> tuple[str, ...]:
    """The named groups just above a generic drug in MeSH ("ciprofloxacin" -> fluoroquinolones, ...)."""
    return vocabulary().groups.get(generic.lower(), ())


def quoted_name(name: str) -> str:
    """A name as faqbot quotes it to a visitor: "'aleve' (naproxen)" when the vocabulary gives another generic name."""
    generic = generic_name(name)
    return f"'{name}' ({generic})" if generic and generic != name.lower() else f"'{name}'"
