"""Ranking CV (as cv.py, bare+pair sentence signals in the baseline) with one more candidate signal: the best share
of the question's word weight (idf over sentences) that one sentence of the passage holds. Dev only."""
import copy, math, sys
from pathlib import Path
import numpy as np
from faqbot.chunks import sentence_spans, strip_markup
from faqbot.evaluation.gold import TRAIN_SPLIT, load_gold
from faqbot.lexical import tokenize
from faqbot.retrieval import open_answerer
from faqbot.settings import Settings
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cv_folds import add_sentence_signal, dev_cv, load_candidates, summary

candidates, keys, devids, row_of, plain = load_candidates()
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
for variant in ["base", *sys.argv[1:]]:
    base = copy.deepcopy(candidates)
    sig = plain + tuple(add_sentence_signal(base, row_of, part) for part in ("bare", "pair"))
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
