"""Ranking CV (as cv.py, bare+pair sentence signals in the baseline) with one more candidate signal: the best share
of the question's word weight (idf over sentences) that one sentence of the passage holds. Dev only."""
import copy, math, pickle, sys
from pathlib import Path
import numpy as np
import faqbot.evaluation.fitting as F
from faqbot.chunks import strip_markup
from faqbot.evaluation.gold import TRAIN_SPLIT, load_gold
from faqbot.lexical import tokenize
from faqbot.model import SIGNALS
from faqbot.response import sentence_spans
from faqbot.retrieval import open_answerer
from faqbot.settings import Settings
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cv_folds import dev_cv, summary

d = pickle.load(open("/tmp/sent_cands.pkl", "rb"))
keys, devids, row_of = d["keys"], set(d["devids"]), d["row_of"]
# the candidates' columns as collected (a tree before the sentence signals had the first seven); the sentence ones dropped
names = d.get("signals", SIGNALS[:7])
plain = [i for i, n in enumerate(names) if not n.startswith("sentence")]
for c in d["base"]:
    c.signals = c.signals[:, plain]
ans = open_answerer(Settings())
ix = ans.index
cases = {c.id: c for c in [*load_gold(Path("eval/gold.jsonl")), *load_gold(Path("eval/train.jsonl"), splits=(TRAIN_SPLIT,))]}
sent_tokens = []
for c in ix.chunks:
    spans = sentence_spans(c.text)
    sent_tokens.append([set(tokenize(strip_markup(c.text[a:b]))) for a, b in spans] or [set(tokenize(c.text))])
df = {}
n = sum(len(s) for s in sent_tokens)
for ss in sent_tokens:
    for s in ss:
        for t in s:
            df[t] = df.get(t, 0) + 1
idf = {t: math.log((n + 1) / (v + 0.5)) for t, v in df.items()}
unseen = math.log((n + 1) / 0.5)
vecs = {v: pickle.load(open(f"/tmp/sent_vecs_{v}.pkl", "rb")) for v in ("bare", "pair")}
for variant in ["base", *sys.argv[1:]]:
    base = copy.deepcopy(d["base"])
    sig = tuple(names[i] for i in plain)
    for v, s in vecs.items():
        by_row = {}
        for i, r in enumerate(s["owner"].tolist()):
            by_row.setdefault(r, []).append(i)
        for c in base:
            col = np.array([float((s["vecs"][by_row[row_of[i]]] @ c.query_vector).max()) for i in c.ids])
            c.signals = np.hstack([c.signals, col[:, None]])
        sig = sig + (v,)
    if variant != "base":
        for c in base:
            q = ans.analyser.analyse(cases[c.case_id].question)
            toks = set(q.tokens)
            w = {t: idf.get(t, unseen) for t in toks}
            total = sum(w.values()) or 1.0
            col = np.array([max(sum(w[t] for t in toks if t in s) for s in sent_tokens[row_of[i]]) / total for i in c.ids])
            c.signals = np.hstack([c.signals, col[:, None]])
        sig = sig + ("sentence_words",)
    print(variant, summary(dev_cv(base, len(keys), devids, sig)), flush=True)
