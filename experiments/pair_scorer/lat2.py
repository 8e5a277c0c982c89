import time, numpy as np, onnxruntime as ort, glob
def bench(path, B, S, th=1, n=50):
    so = ort.SessionOptions(); so.intra_op_num_threads = th; so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    x = {"input_ids": np.random.randint(1000, 20000, (B, S)).astype(np.int64), "attention_mask": np.ones((B, S), np.int64), "token_type_ids": np.zeros((B, S), np.int64)}
    for _ in range(5): s.run(None, x)
    t = time.perf_counter()
    for _ in range(n): s.run(None, x)
    return (time.perf_counter() - t) / n * 1000
emb = glob.glob("index/models/*.onnx")[0]
for th in (1, 2):
    print(f"threads {th}: query encoder 1x12 {bench(emb, 1, 12, th):.2f} ms | 1x128 {bench(emb, 1, 128, th):.2f} | S3int8 3x64 {bench('/tmp/ceonnx/L3.int8.onnx', 3, 64, th):.2f} | S3int8 2x48 {bench('/tmp/ceonnx/L3.int8.onnx', 2, 48, th):.2f} | S2int8 2x48 {bench('/tmp/ceonnx/L2.int8.onnx', 2, 48, th):.2f} | L6int8 3x64 {bench('/tmp/ceonnx/L6.int8.onnx', 3, 64, th):.2f}")
