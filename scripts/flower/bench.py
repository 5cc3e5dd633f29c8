#!/usr/bin/env python3
"""Time Flower 1.41.0's legacy aggregate functions on chorus-fl's benchmark inputs.

Usage: bench.py --n 100 --p 1000000 --f 10 [--seed 0] [--repeats 3] [--bulyan]
Prints one JSON line {"floor": s, "fedavg": s, "median": s, "trimmed_mean": s, "krum": s[, "bulyan": s]}
(minimum wall seconds). Runs inside ~/.cache/chorus-venv (created like golden.py).

Inputs use the generator documented in crates/fl/src/bench.rs: value j of client i is
q = (splitmix64((seed << 40) + i*P + j) >> 42) - 2^21, given to Flower as float32 q / 65536, split
into 4 layers (60 %, 0.1 %, 30 %, 9.9 % of P) like the baseline in shared/notes/flower-baseline.md.
num_examples_i = 50 + splitmix64(i) % 450.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

VENV = Path.home() / ".cache" / "chorus-venv"


def ensure_venv():
    py = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not py.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        subprocess.check_call([str(py), "-m", "pip", "install", "-q", "flwr==1.41.0", "numpy"])
    os.execv(str(py), [str(py), __file__] + sys.argv[1:])


def splitmix64(z):
    import numpy as np
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def main():
    import numpy as np
    from flwr.server.strategy.aggregate import (
        aggregate, aggregate_median, aggregate_trimmed_avg, aggregate_krum, aggregate_bulyan)

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--p", type=int, default=1_000_000)
    ap.add_argument("--f", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bulyan", action="store_true")
    a = ap.parse_args()
    n, p = a.n, a.p
    X = np.empty((n, p), dtype=np.float32)
    j = np.arange(p, dtype=np.uint64)
    for i in range(n):
        z = splitmix64(np.uint64(a.seed << 40) + np.uint64(i * p) + j)
        X[i] = ((z >> np.uint64(42)).astype(np.int64) - (1 << 21)).astype(np.float32) / 65536.0
    cuts = np.cumsum([int(p * 0.6), int(p * 0.001), int(p * 0.3)])
    ne = [int(50 + (int(splitmix64(np.array([i], dtype=np.uint64))[0]) % 450)) for i in range(n)]
    results = [([np.ascontiguousarray(x) for x in np.split(X[i], cuts)], ne[i]) for i in range(n)]

    def t(fn, reps):
        best = float("inf")
        for _ in range(reps):
            s = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - s)
        return best

    out = {
        "floor": t(lambda: X.sum(axis=0), a.repeats),
        "fedavg": t(lambda: aggregate(results), a.repeats),
        "median": t(lambda: aggregate_median(results), a.repeats),
        "trimmed_mean": t(lambda: aggregate_trimmed_avg(results, 0.2), a.repeats),
        "krum": t(lambda: aggregate_krum(results, a.f, 0), 1),
    }
    if a.bulyan:
        out["bulyan"] = t(lambda: aggregate_bulyan(results, a.f, aggregate_krum, to_keep=0), 1)
    print(json.dumps(out))


if __name__ == "__main__":
    ensure_venv()
    main()
