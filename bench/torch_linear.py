# Optional peer for `npm run bench`: PyTorch's torch.nn.functional.linear with bf16 weights and
# activations on the CPU, y = x W^T, timed like our rows (median of repeated calls). Prints one
# JSON object {"version", "threads", "rows": [{"m", "k", "n", "ms"}]}; exits 3 when torch is absent
# so the bench skips it. Never a dependency: reference measurements only.
import json
import sys
import time

try:
    import torch
except ImportError:
    sys.exit(3)

threads = int(sys.argv[1])
shapes = json.loads(sys.argv[2])  # [[m, k, [n, ...]], ...]
torch.set_num_threads(threads)
rows = []
with torch.inference_mode():
    for m, k, ns in shapes:
        w = torch.randn(m, k).to(torch.bfloat16)
        for n in ns:
            x = torch.randn(n, k).to(torch.bfloat16)
            for _ in range(3):
                torch.nn.functional.linear(x, w)
            times = []
            t_end = time.perf_counter() + 0.5
            while len(times) < 5 or (time.perf_counter() < t_end and len(times) < 200):
                t0 = time.perf_counter()
                torch.nn.functional.linear(x, w)
                times.append(time.perf_counter() - t0)
            times.sort()
            rows.append({"m": m, "k": k, "n": n, "ms": times[len(times) // 2] * 1e3})
print(json.dumps({"version": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}))
