import gzip, json, pickle, sys
import numpy as np
sc = json.load(gzip.open(sys.argv[1], "rt")); keys = [tuple(k) for k in sc["keys"]]
S = dict(zip(keys, sc["scores"][sys.argv[2]]))
outs = [o for o in pickle.load(open("/work/scratch/ce/dev_outs.pkl", "rb")) if o.signals and "two-drug" not in o.case.tags]
ans = [o for o in outs if o.case.answerable]
v = np.array(list(S.values())); print("CE logit range", np.percentile(v, [5, 50, 95]))
for TOP in (2, 3):
  for a in (0.02, 0.05, 0.1, 0.2):
    for gate in (0.1, 0.2, 0.3, 0.5, 1.0, 99):
        hits = 0; used = 0
        for o in ans:
            ids = sorted(o.signals, key=lambda i: -o.signals[i]["fused"])[:TOP]
            f0 = o.signals[ids[0]]["fused"]
            ids = [i for i in ids if f0 - o.signals[i]["fused"] < gate]
            if len(ids) > 1: used += 1
            f = [o.signals[i]["fused"] + a * S[(o.case.id, i)] for i in ids]
            hits += ids[int(np.argmax(f))] in o.case.relevant
        used_all = sum(1 for o in outs if (lambda ids: len([i for i in ids if o.signals[ids[0]]["fused"] - o.signals[i]["fused"] < gate]) > 1)(sorted(o.signals, key=lambda i: -o.signals[i]["fused"])[:TOP]))
        print(f"top{TOP} a={a} gate={gate}: hit@1 {hits/len(ans):.3f}  scored {used_all/len(outs):.2f} of questions")
