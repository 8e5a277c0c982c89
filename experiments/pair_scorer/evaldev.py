import gzip, json, pickle, sys
import numpy as np
from faqbot.evaluation.fitting import _auc
sc = json.load(gzip.open(sys.argv[1], "rt"))
keys = [tuple(k) for k in sc["keys"]]
outs = pickle.load(open("/work/scratch/ce/dev_outs.pkl", "rb"))
for name, vals in sc["scores"].items():
    S = dict(zip(keys, vals))
    res = {}
    for TOP in (3, 5, 10):
        for a in (0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 100.0):
            hits = tot = 0
            for o in outs:
                c = o.case
                if not c.answerable or not o.signals or "two-drug" in c.tags: continue
                ids = sorted(o.signals, key=lambda i: -o.signals[i]["fused"])[:TOP]
                f = [o.signals[i]["fused"] + a * S[(c.id, i)] for i in ids]
                hits += ids[int(np.argmax(f))] in c.relevant; tot += 1
            res[(TOP, a)] = hits / tot
    # answerability: top-1 CE score, right answer vs not (not-on-page and wrong-top)
    ys, xs, ys2, xs2 = [], [], [], []
    for o in outs:
        c = o.case
        if not o.signals or "two-drug" in c.tags: continue
        top = max(o.signals, key=lambda i: o.signals[i]["fused"])
        ys.append(float(c.answerable and top in c.relevant)); xs.append(S[(c.id, top)])
        if (c.answerable and top in c.relevant) or not c.answerable:
            ys2.append(float(c.answerable)); xs2.append(S[(c.id, top)])
    best = max(res.items(), key=lambda kv: kv[1])
    print(f"{name:7s} base {res[(3,0.0)]:.3f} top3 a=.2 {res[(3,0.2)]:.3f} a=1 {res[(3,1.0)]:.3f} CEonly3 {res[(3,100.0)]:.3f} CEonly10 {res[(10,100.0)]:.3f} best {best[0]} {best[1]:.3f} | AUC right-vs-not {_auc(np.array(xs), np.array(ys)):.3f} right-vs-notonpage {_auc(np.array(xs2), np.array(ys2)):.3f}")
