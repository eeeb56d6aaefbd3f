"""Batched forward + backward of a [2, 100, 100, 1] sigmoid network, batch 1000:
the NumPy reference side by side with the same network in PyTorch on the CPU, in one run.

    python benchmarks/bench_forward_backward.py [--blocks 30] [--block-size 20] [--out FILE.json]

PyTorch is optional (``pip install torch==2.13.0``, the CPU build). Both sides are timed in one
run, in alternating blocks (B steps of NumPy, B steps of PyTorch, repeated), so that load on a
shared machine hits both alike; the reported figure is the median per step over all blocks,
and the ratio torch_time / numpy_time is what to read (goal: >= 1.0, the reference at least as
fast as PyTorch CPU). Blocks rather than step-by-step interleaving: each library keeps worker
threads spinning for a while after a call, and interleaving single steps lets one library's
spinning threads slow the other (on this machine it doubled PyTorch's time and flattered us).
Both sides use float64, compute the same gradients (checked before timing), and use the same
number of threads. The NumPy side is the reference's training path, ``Network.forward`` and
``Network.backprop`` (buffers reused between steps, as PyTorch's caching allocator does).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from reference.backprop import Network, backprop, forward

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


def numpy_setup(weights, biases, y_in, y_target):
    net = Network([w.copy() for w in weights], [b.copy() for b in biases], list(ACTIVATIONS))

    def step():
        net.forward(y_in, surrogate=False)
        net.backprop(y_target)
        return net.dw_layer, net.db_layer

    return step


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
    parser.add_argument("--blocks", type=int, default=30)
    parser.add_argument("--block-size", type=int, default=20)
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
    numpy_step = numpy_setup(*problem)

    # Same answer first: a benchmark of two different computations means nothing. And the
    # training path must agree with the plain functions.
    dw_np, db_np = numpy_step()
    y_layer, df_layer = forward(problem[0], problem[1], ACTIVATIONS, problem[2])
    dw_f, db_f = backprop(problem[0], y_layer, df_layer, problem[3])
    dw_t, db_t = torch_step()
    for a, f, b in zip(dw_np + db_np, dw_f + db_f, dw_t + db_t, strict=True):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a, f, rtol=1e-12, atol=1e-15)

    def block(step) -> list[float]:
        step()  # the first call after the other library ran is not counted
        times = []
        for _ in range(args.block_size):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        return times

    for _ in range(3):  # warm-up (allocations, BLAS thread pools)
        block(numpy_step)
        block(torch_step)
    numpy_times, torch_times = [], []
    for _ in range(args.blocks):
        numpy_times += block(numpy_step)
        torch_times += block(torch_step)
    numpy_ms = 1e3 * float(np.median(numpy_times))
    torch_ms = 1e3 * float(np.median(torch_times))
    result = {
        "benchmark": "forward+backward, [2,100,100,1] sigmoid, batch 1000, float64",
        "steps_each": args.blocks * args.block_size,
        "method": f"{args.blocks} alternating blocks of {args.block_size} steps, median per step",
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
