"""Pairs for the cross-encoder experiment: written training questions (+ MedQuAD train part) to
train on; dev candidates to score. Never test / heldout-pages."""
import json, random, pickle, sys
from pathlib import Path
from faqbot.settings import Settings
from faqbot.retrieval import open_answerer
from faqbot.evaluation.gold import load_gold, Case
from faqbot.evaluation.metrics import run_case
from faqbot.evaluation.external import load_medquad
OUT = Path("/work/main/cedata"); OUT.mkdir(exist_ok=True)
ans = open_answerer(Settings()); idx = ans.index
ans.model.kinds, ans.model.kind_weights = [], []
chunk = {c.chunk_id: c for c in idx.chunks}
def ptext(c):
    where = " > ".join(c.heading_path) if c.kind == "section" else (c.question or "")
    return f"{c.title}. {where}. {c.text}"
def load(path):
    return [Case(id=d["id"], question=d["question"], relevant=tuple(d["relevant"]), doc_id=d["doc_id"], answerable=d["answerable"], tags=tuple(d["tags"]), split="train") for d in map(json.loads, open(path))]
train = load("eval/train.jsonl") + load("eval/train_round2.jsonl")
dev = [c for c in load_gold(Path("eval/gold.jsonl")) if c.split == "dev" and not c.clarify]
TOPN = 12
def cands(case):
    o = run_case(ans, case, "full", explain=True)
    ids = sorted(o.signals or {}, key=lambda i: -o.signals[i]["fused"])
    return o, ids
pairs = []
for n, c in enumerate(train):
    o, ids = cands(c)
    use = ids[:TOPN] + [r for r in c.relevant if r not in ids[:TOPN] and r in chunk]
    for i in use:
        pairs.append({"q": c.question, "p": ptext(chunk[i]), "y": float(c.answerable and i in c.relevant), "src": "written", "case": c.id})
    if n % 100 == 0: print("train", n, file=sys.stderr)
# page FAQ questions vs the other passages faqbot ranks for them (for distillation only: no labels)
mq = load_medquad(Path("/work/shared/datasets/medquad/medquad_answered.jsonl"), part="train")
rng = random.Random(0)
byfocus = {}
for p in mq: byfocus.setdefault(p["focus"], []).append(p)
sample = rng.sample(mq, 6000)
for p in sample:
    ansr = lambda x: f"{x['focus']}. {x['answer'][:1200]}"
    pairs.append({"q": p["question"], "p": ansr(p), "y": 1.0, "src": "medquad"})
    same = [x for x in byfocus[p["focus"]] if x["answer"] != p["answer"] and x["qtype"] != p["qtype"]]
    if same: pairs.append({"q": p["question"], "p": ansr(rng.choice(same)), "y": 0.0, "src": "medquad"})
    pairs.append({"q": p["question"], "p": ansr(rng.choice(mq)), "y": 0.0, "src": "medquad"})
json.dump(pairs, open(OUT / "train_pairs.json", "w"))
devpairs, outs = [], []
for c in dev:
    o, ids = cands(c)
    outs.append(o)
    for i in ids:
        devpairs.append({"case": c.id, "chunk": i, "q": c.question, "p": ptext(chunk[i])})
json.dump(devpairs, open(OUT / "dev_pairs.json", "w"))
pickle.dump(outs, open("/work/scratch/ce/dev_outs.pkl", "wb"))
# distillation extra: every FAQ question of the pages vs every passage of its page
extra = []
for ch in idx.chunks:
    if ch.kind == "faq" and ch.question:
        for other in idx.chunks:
            if other.doc_id == ch.doc_id and other.chunk_id != ch.chunk_id:
                t = ptext(other)
                extra.append({"q": ch.question, "p": t})
json.dump(extra, open(OUT / "distill_pairs.json", "w"))
print(len(pairs), sum(p["y"] for p in pairs), len(devpairs), len(extra))
