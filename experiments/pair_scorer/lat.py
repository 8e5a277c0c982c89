import time, numpy as np, torch, onnxruntime as ort
from transformers import AutoConfig, AutoModelForSequenceClassification
from onnxruntime.quantization import quantize_dynamic, QuantType
MD = "/work/main/cedata/minilm"
for L in (2, 3, 6):
    cfg = AutoConfig.from_pretrained(MD, num_labels=1); cfg.num_hidden_layers = L
    m = AutoModelForSequenceClassification.from_pretrained(MD, config=cfg, dtype=torch.float32).eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    p = f"/tmp/ceonnx/L{L}.onnx"
    torch.onnx.export(m, (ids, ids, torch.zeros_like(ids)), p, input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"], dynamic_axes={k: {0: "b", 1: "s"} for k in ["input_ids", "attention_mask", "token_type_ids"]}, opset_version=17, dynamo=False)
    quantize_dynamic(p, p.replace(".onnx", ".int8.onnx"), weight_type=QuantType.QInt8)
    for f in (p, p.replace(".onnx", ".int8.onnx")):
        for th in (1, 2):
            so = ort.SessionOptions(); so.intra_op_num_threads = th; so.inter_op_num_threads = 1
            s = ort.InferenceSession(f, so, providers=["CPUExecutionProvider"])
            for B, S in ((3, 128), (3, 96), (2, 96), (3, 64)):
                x = {"input_ids": np.random.randint(1000, 20000, (B, S)).astype(np.int64), "attention_mask": np.ones((B, S), np.int64), "token_type_ids": np.zeros((B, S), np.int64)}
                for _ in range(3): s.run(None, x)
                t = time.perf_counter(); n = 20
                for _ in range(n): s.run(None, x)
                print(f"L{L} {'int8' if 'int8' in f else 'fp32'} threads={th} {B}x{S}: {(time.perf_counter()-t)/n*1000:.1f} ms", flush=True)
