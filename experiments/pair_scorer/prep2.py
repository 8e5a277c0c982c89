import json, sys
import sys
from pathlib import Path as _P
sys.path.insert(0, str(_P(__file__).resolve().parent))
from pathlib import Path
from faqbot.settings import Settings
from faqbot.retrieval import open_answerer
from faqbot.evaluation.gold import Case
from faqbot.evaluation.external import load_medquad
from training import TrainConfig, training_pairs, save_pairs
ans = open_answerer(Settings())
def load(path):
    return [Case(id=d["id"], question=d["question"], relevant=tuple(d["relevant"]), doc_id=d["doc_id"], answerable=d["answerable"], tags=tuple(d["tags"]), split="train") for d in map(json.loads, open(path))]
cases = load("eval/train_round2.jsonl")
mq = load_medquad(Path("/work/shared/datasets/medquad/medquad_answered.jsonl"), part="train")
pairs = training_pairs(ans, cases, mq, TrainConfig())
save_pairs(pairs, Path("cedata/pairs2.json.gz"))
print(len(pairs), sum(1 for p in pairs if p[2] is not None), sum(1 for p in pairs if p[2]))
