import gzip, json, sys, os, random, dataclasses
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from training import TrainConfig, train_pair_scorer, save_student, load_pairs
out = Path(sys.argv[1]); smoke = len(sys.argv) > 2
pairs = load_pairs(Path("cedata/pairs2.json.gz"))
devp = json.load(gzip.open("cedata/dev_pairs.json.gz", "rt"))
cfg = TrainConfig()
if smoke:
    random.Random(0).shuffle(pairs); pairs = pairs[:120]; devp = devp[:50]
    cfg = dataclasses.replace(cfg, teacher_epochs=1, student_epochs=1)
log = lambda m: print(m, flush=True)
teacher, student, tr = train_pair_scorer(pairs, Path("cedata/minilm"), cfg, log=log)
dp = [(p["q"], p["p"]) for p in devp]
res = {"T6r2": tr.score(teacher, dp, cfg.teacher_tokens).tolist(), "S3t": tr.score(student, dp, cfg.student_tokens).tolist()}
save_student(student, out / "S3t.safetensors", cfg, {"pairs": len(pairs)})
json.dump({"keys": [[p["case"], p["chunk"]] for p in devp], "scores": res}, gzip.open(out / "dev_scores.json.gz", "wt"))
cfg2 = dataclasses.replace(cfg, student_layers=(0, 3))
tr.config = cfg2
every = [(q, p) for q, p, _ in pairs]
soft = tr.score(teacher, every, cfg.teacher_tokens)
s2 = tr.fit(tr.student_of(teacher), every, soft.tolist(), epochs=cfg2.student_epochs + 1, lr=cfg2.student_lr, tokens=cfg2.student_tokens, soft=True, name="S2")
res["S2t"] = tr.score(s2, dp, cfg2.student_tokens).tolist()
save_student(s2, out / "S2t.safetensors", cfg2, {"pairs": len(pairs)})
json.dump({"keys": [[p["case"], p["chunk"]] for p in devp], "scores": res}, gzip.open(out / "dev_scores.json.gz", "wt"))
print("done", flush=True)
