"""`faqbot train`: the pair scorer, a small cross-encoder that reads a question and a passage together.

Two stages, both seeded. A 6-layer teacher, started from the packaged all-MiniLM-L6-v2 weights, learns
"this passage answers this question" from labelled pairs: written training questions against the
passages faqbot ranks for them (eval/train_round2.jsonl: the answering passages are positives, the
others and every passage shown for a not-on-page question are negatives) and MedQuAD's train part
(a question with its own answer, another answer about the same subject, a random answer). A 3-layer
student, started from every other teacher layer, then learns the teacher's scores over those pairs
and over unlabelled ones (each page FAQ question and each training question against every passage
of its page): cheap enough to read the top passages of every question on two cores.

The word embeddings stay frozen (the packaged ones), so the shipped file holds only the rest of the
student, in float16; `pairs.py` puts the two together into one ONNX file on first use.
Needs torch and transformers (installed with faqbot); the GPU is used when there is one.
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

# pairs: (question, passage text, label); label None for pairs only the student sees
Pair = tuple[str, str, float | None]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained file, recorded beside it."""

    seed: int = 0
    teacher_layers: int = 6
    student_layers: tuple[int, ...] = (0, 2, 4)  # the teacher layers the student starts from
    teacher_epochs: int = 3
    student_epochs: int = 4
    batch: int = 64
    teacher_lr: float = 4e-5
    student_lr: float = 1e-4
    teacher_tokens: int = 192
    student_tokens: int = 128
    medquad_questions: int = 6000
    top_passages: int = 12  # passages faqbot ranks for a training question, taken as its pairs


def _torch_device(requested: str | None) -> str:
    import torch

    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


class _Trainer:
    """The shared loop: batches of tokenised pairs, AdamW with warm-up and linear decay."""

    def __init__(self, model_dir: Path, config: TrainConfig, device: str, log: Callable[[str], None]) -> None:
        import torch
        from transformers import AutoTokenizer

        self.torch = torch
        self.model_dir = model_dir
        self.config = config
        self.device = device
        self.log = log
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.started = time.time()

    def new_model(self, layers: int) -> Any:
        from transformers import AutoConfig, AutoModelForSequenceClassification
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # the load report lists the layers we leave out on purpose
        hf_logging.disable_progress_bar()
        self.torch.manual_seed(self.config.seed)
        cfg = AutoConfig.from_pretrained(str(self.model_dir), num_labels=1)
        cfg.num_hidden_layers = layers
        model = AutoModelForSequenceClassification.from_pretrained(str(self.model_dir), config=cfg, dtype=self.torch.float32)
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
        return model.to(self.device)

    def student_of(self, teacher: Any) -> Any:
        """A student holding the teacher's embeddings, chosen layers, pooler and classifier."""
        student = copy.deepcopy(teacher)
        student.bert.encoder.layer = self.torch.nn.ModuleList(
            [copy.deepcopy(teacher.bert.encoder.layer[i]) for i in self.config.student_layers]
        )
        student.config.num_hidden_layers = len(self.config.student_layers)
        return student

    def batches(self, pairs: Sequence[tuple[str, str]], size: int, tokens: int) -> Iterator[tuple[int, dict[str, Any]]]:
        for start in range(0, len(pairs), size):
            chunk = pairs[start : start + size]
            enc = self.tokenizer(
                [q for q, _ in chunk], [p for _, p in chunk],
                truncation="only_second", max_length=tokens, padding=True, return_tensors="pt",
            )
            yield start, {k: v.to(self.device) for k, v in enc.items()}

    def logits(self, model: Any, enc: dict[str, Any]) -> Any:
        with self.torch.autocast(self.device.split(":")[0], dtype=self.torch.bfloat16, enabled=self.device.startswith("cuda")):
            return model(**enc).logits[:, 0].float()

    def fit(self, model: Any, pairs: Sequence[tuple[str, str]], targets: Sequence[float], *,
            epochs: int, lr: float, tokens: int, soft: bool, name: str) -> Any:
        torch = self.torch
        size = self.config.batch
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
        steps = epochs * ((len(pairs) + size - 1) // size)
        warm = max(1, steps // 10)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / max(1, steps - warm))
        )
        rng = random.Random(self.config.seed)
        order = list(range(len(pairs)))
        model.train()
        for epoch in range(epochs):
            rng.shuffle(order)
            shuffled = [pairs[i] for i in order]
            wanted = np.array([targets[i] for i in order], dtype=np.float32)
            total = 0.0
            for start, enc in self.batches(shuffled, size, tokens):
                out = self.logits(model, enc)
                target = torch.from_numpy(wanted[start : start + len(out)]).to(self.device)
                if soft:
                    loss = torch.nn.functional.mse_loss(out, target)
                else:
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(out, target)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sched.step()
                opt.zero_grad()
                total += float(loss.item()) * len(out)
            self.log(f"{name}: epoch {epoch + 1}/{epochs}, loss {total / max(1, len(pairs)):.4f}, {time.time() - self.started:.0f}s")
        model.eval()
        return model

    def score(self, model: Any, pairs: Sequence[tuple[str, str]], tokens: int) -> np.ndarray:
        out = []
        with self.torch.no_grad():
            for _, enc in self.batches(pairs, 256, tokens):
                out.append(self.logits(model, enc).cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def train_pair_scorer(
    pairs: Sequence[Pair], model_dir: Path, config: TrainConfig = TrainConfig(), *,
    device: str | None = None, log: Callable[[str], None] = print,
) -> tuple[Any, Any, _Trainer]:
    """Teacher on the labelled pairs, then the student on the teacher's scores over all pairs."""
    random.seed(config.seed)
    np.random.seed(config.seed)
    trainer = _Trainer(model_dir, config, _torch_device(device), log)
    labelled = [(q, p, y) for q, p, y in pairs if y is not None]
    if not labelled or not any(y for _, _, y in labelled) or all(y for _, _, y in labelled):
        raise ValueError("training needs labelled pairs of both kinds (answers and non-answers)")
    log(f"{len(labelled)} labelled pairs ({sum(1 for *_, y in labelled if y)} answers), {len(pairs)} in all, on {trainer.device}")
    teacher = trainer.fit(
        trainer.new_model(config.teacher_layers), [(q, p) for q, p, _ in labelled], [float(y or 0.0) for *_, y in labelled],
        epochs=config.teacher_epochs, lr=config.teacher_lr, tokens=config.teacher_tokens, soft=False, name="teacher",
    )
    every = [(q, p) for q, p, _ in pairs]
    soft = trainer.score(teacher, every, config.teacher_tokens)
    student = trainer.fit(
        trainer.student_of(teacher), every, soft.tolist(),
        epochs=config.student_epochs, lr=config.student_lr, tokens=config.student_tokens, soft=True, name="student",
    )
    return teacher, student, trainer


def save_student(student: Any, path: Path, config: TrainConfig, details: dict[str, Any]) -> None:
    """The student without its word embeddings (frozen: the packaged ones), float16, and its settings."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().half().cpu().contiguous() for k, v in student.state_dict().items() if "word_embeddings" not in k}
    metadata = {"config": json.dumps(asdict(config)), "details": json.dumps(details, sort_keys=True)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)


def training_pairs(answerer: Any, cases: Sequence[Any], medquad: Sequence[dict[str, str]], config: TrainConfig) -> list[Pair]:
    """Labelled and unlabelled pairs from the written training questions, the pages they are about
    and MedQuAD's train part. Only the pages the training questions name are read."""
    from faqbot.evaluation.metrics import run_case
    from pairs import medquad_text, pair_text

    index = answerer.index
    chunk = {c.chunk_id: c for c in index.chunks}
    pairs: list[Pair] = []
    pages = sorted({c.doc_id for c in cases if c.doc_id})
    for case in cases:
        outcome = run_case(answerer, case, "full", explain=True)
        ranked = sorted(outcome.signals or {}, key=lambda i: (-outcome.signals[i]["fused"], i))[: config.top_passages]
        shown = ranked + [r for r in case.relevant if r not in ranked and r in chunk]
        for chunk_id in shown:
            pairs.append((case.question, pair_text(chunk[chunk_id]), float(case.answerable and chunk_id in case.relevant)))
        seen = set(shown)
        for other in index.chunks:  # the rest of its page: for the student only
            if other.doc_id == case.doc_id and other.chunk_id not in seen:
                pairs.append((case.question, pair_text(other), None))
    for faq in index.chunks:
        if faq.kind == "faq" and faq.question and faq.doc_id in pages:
            for other in index.chunks:
                if other.doc_id == faq.doc_id and other.chunk_id != faq.chunk_id:
                    pairs.append((faq.question, pair_text(other), None))
    rng = random.Random(config.seed)
    by_focus: dict[str, list[dict[str, str]]] = {}
    for item in medquad:
        by_focus.setdefault(item["focus"], []).append(item)
    for item in rng.sample(list(medquad), min(config.medquad_questions, len(medquad))):
        pairs.append((item["question"], medquad_text(item), 1.0))
        others = [x for x in by_focus[item["focus"]] if x["qtype"] != item["qtype"]]
        if others:
            pairs.append((item["question"], medquad_text(rng.choice(others)), 0.0))
        pairs.append((item["question"], medquad_text(rng.choice(medquad)), 0.0))
    return pairs


def save_pairs(pairs: Sequence[Pair], path: Path) -> None:
    import gzip

    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump([list(p) for p in pairs], f)


def load_pairs(path: Path) -> list[Pair]:
    import gzip

    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [(q, p, y) for q, p, y in json.load(f)]
