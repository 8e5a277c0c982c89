"""Sentence vectors for the shipped index's passages, and the dev+train candidates with their signals; cached to /tmp."""
import pickle, sys, time
from pathlib import Path
import numpy as np
from faqbot.settings import Settings
from faqbot.retrieval import open_answerer
from faqbot.evaluation.gold import load_gold, TRAIN_SPLIT
from faqbot.evaluation.fitting import _collect
from faqbot.model import SIGNALS
from faqbot.chunks import strip_markup
from faqbot.response import sentence_spans

ans = open_answerer(Settings())
ix = ans.index
variant = sys.argv[1] if len(sys.argv) > 1 else "label"
texts, owner = [], []
variant_ = variant[:-1] if variant in ("bareq", "pairq") else variant  # "q": the sentences of that form, then the FAQ's question
for row, c in enumerate(ix.chunks):
    names = ix.drugs[c.doc_id].names
    label = c.title
    head = c.question if c.question else c.section
    if variant in ("heading", "headpath"):  # one text per passage: what its heading (or FAQ question) says it is about
        leaf = c.question if c.question else (c.heading_path[-1] if variant == "heading" else " ".join(c.heading_path))
        texts.append(f"{label}: {leaf}"); owner.append(row)
        continue
    spans = sentence_spans(c.text)
    sents = [strip_markup(c.text[a:b]) for a, b in spans] or [strip_markup(c.text)]
    for i, s in enumerate(sents):
        if variant_ == "label":
            t = f"{label}. {head}. {s}"
        elif variant_ == "bare":
            t = f"{label}: {s}"
        elif variant_ == "pair":
            t = f"{label}. {head}. {s} {sents[i+1] if i + 1 < len(sents) else ''}".strip()
        elif variant == "barepair":
            t = f"{label}: {s} {sents[i+1] if i + 1 < len(sents) else ''}".strip()
        elif variant == "barewin":
            t = f"{label}: {sents[i-1] + ' ' if i > 0 else ''}{s} {sents[i+1] if i + 1 < len(sents) else ''}".strip()
        texts.append(t); owner.append(row)
    if variant.endswith("q") and c.question:  # an FAQ's own question as one more sentence of it
        texts.append(f"{label}: {c.question}" if variant == "bareq" else f"{label}. {c.question}."); owner.append(row)
t0 = time.time()
vecs = ans.embedder.encode(texts)
print(len(texts), "sentences encoded in", round(time.time() - t0, 1), "s", flush=True)
out = {"vecs": np.asarray(vecs, dtype=np.float32), "owner": np.array(owner), "texts": texts}
if not Path("/tmp/sent_cands.pkl").exists():
    dev = [c for c in load_gold(Path("eval/gold.jsonl")) if c.split == "dev" and not c.clarify]
    train = load_gold(Path("eval/train.jsonl"), splits=(TRAIN_SPLIT,))
    m = ans.model
    m.weights = {"dense": 1.0, "lexical": 0.0, "topic": 0.0, "faq": 0.0}; m.priors = {}; m.kinds, m.kind_weights = [], []
    keys = {}
    base = _collect(ans, [c for c in dev + train if c.answerable], keys)
    pickle.dump({"base": base, "keys": keys, "devids": [c.id for c in dev], "row_of": {c.chunk_id: r for r, c in enumerate(ix.chunks)}, "signals": SIGNALS}, open("/tmp/sent_cands.pkl", "wb"))
pickle.dump(out, open(f"/tmp/sent_vecs_{variant}.pkl", "wb"))
