"""Batched forward + backward of a [2, 100, 100, 1] sigmoid network, batch 1000:
the NumPy reference side by side with the same network in PyTorch on the CPU, in one run.

    python benchmarks/bench_forward_backward.py [--repeats 300] [--out FILE.json]

PyTorch is optional (``pip install torch==2.13.0``, the CPU build). Timings are interleaved
(numpy, torch, numpy, torch, ...) so that load on a shared machine hits both sides alike, and the
reported figure is the median per iteration; the ratio torch_time / numpy_time is what to read
(goal: >= 1.0, the reference at least as fast as PyTorch CPU). Both sides use float64, both
compute the same gradients (checked before timing), and both use the same number of threads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from reference.backprop import backprop, forward

SIZES = [2, 100, 100, 1]
BATCH = 1000
ACTIVATIONS = ["sigmoid"] * 3


def make_problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(-1, 1, size=(a, b)) for a, b in zip(SIZES[:-1], SIZES[1:], strict=True)]
    biases = [rng.uniform(-1, 1, size=b) for b in SIZES[1:]]
    y_in = rng.uniform(-1, 1, size=(BATCH, SIZES[0]))
    y_target = rng.uniform(0, 1, size=(BATCH, SIZES[-1]))
    return weights, biases, y_in, y_target


def numpy_step(weights, biases, y_in, y_target):
    y_layer, df_layer = forward(weights, biases, ACTIVATIONS, y_in)
    return backprop(weights, y_layer, df_layer, y_target)


def torch_setup(weights, biases, y_in, y_target):
    import torch

    ws = [torch.tensor(w, requires_grad=True) for w in weights]
    bs = [torch.tensor(b, requires_grad=True) for b in biases]
    x, t = torch.tensor(y_in), torch.tensor(y_target)

    def step():
        for p in ws + bs:
            p.grad = None
        y = x
        for w, b in zip(ws, bs, strict=True):
            y = torch.sigmoid(y @ w + b)
        loss = 0.5 * ((y - t) ** 2).sum(dim=1).mean()
        loss.backward()
        return [w.grad for w in ws], [b.grad for b in bs]

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/forward_backward.json"))
    args = parser.parse_args()

    problem = make_problem()
    try:
        import torch
    except ImportError:
        raise SystemExit("PyTorch is not installed: pip install torch==2.13.0 (CPU build)") from None
    threads = int(os.environ.get("BENCH_THREADS", "0")) or torch.get_num_threads()
    torch.set_num_threads(threads)
    torch_step = torch_setup(*problem)

    # Same answer first: a benchmark of two different computations means nothing.
    dw_np, db_np = numpy_step(*problem)
    dw_t, db_t = torch_step()
    for a, b in zip(dw_np + db_np, dw_t + db_t, strict=True):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-9, atol=1e-12)

    for _ in range(20):  # warm-up (allocations, BLAS thread pools)
        numpy_step(*problem)
        torch_step()
    numpy_times, torch_times = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        numpy_step(*problem)
        t1 = time.perf_counter()
        torch_step()
        t2 = time.perf_counter()
        numpy_times.append(t1 - t0)
        torch_times.append(t2 - t1)
    numpy_ms = 1e3 * float(np.median(numpy_times))
    torch_ms = 1e3 * float(np.median(torch_times))
    result = {
        "benchmark": "forward+backward, [2,100,100,1] sigmoid, batch 1000, float64",
        "repeats": args.repeats,
        "numpy_ms_median": round(numpy_ms, 4),
        "torch_ms_median": round(torch_ms, 4),
        "ratio_torch_over_numpy": round(torch_ms / numpy_ms, 3),
        "goal": "ratio >= 1.0",
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "threads": threads,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
