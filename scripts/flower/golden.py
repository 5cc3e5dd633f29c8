#!/usr/bin/env python3
"""Generate Flower golden outputs for chorus-fl's cross-check test.

Creates a venv under ~/.cache/chorus-venv with flwr==1.41.0 + numpy (if missing), re-executes
itself inside it, and writes crates/fl/tests/golden/flower_<rule>.json. Inputs are synthetic:
numpy default_rng(seed), N clients x P params in two layers, values rounded to multiples of 2^-10
(exactly representable in chorus fixed point with >= 10 fractional bits), num_examples in [10, 100).

Each file: {"rule", "params", "n", "p", "num_examples", "inputs" (N x P), "expected" (P)} where
inputs/expected are *deltas* for chorus: for the plain aggregate functions the delta is the value
itself; for the server optimisers ("current" given) inputs are client_weights - current and
expected is new_weights - current, per round in "rounds".
"""
import json
import os
import subprocess
import sys
from pathlib import Path

VENV = Path.home() / ".cache" / "chorus-venv"
ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "crates" / "fl" / "tests" / "golden"


def ensure_venv():
    py = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not py.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        subprocess.check_call([str(py), "-m", "pip", "install", "-q", "flwr==1.41.0", "numpy"])
    os.execv(str(py), [str(py), __file__] + sys.argv[1:])


def main():
    import numpy as np
    from flwr.common import FitRes, Status, Code, ndarrays_to_parameters, parameters_to_ndarrays
    from flwr.server.strategy import FedAdam, FedYogi, FedAdagrad
    from flwr.server.strategy.aggregate import (
        aggregate, aggregate_median, aggregate_trimmed_avg, aggregate_krum, aggregate_bulyan)

    n, layers = 13, (30, 18)
    p = sum(layers)
    rng = np.random.default_rng(20261122)

    def q(x):
        return (np.round(np.asarray(x, dtype=np.float64) * 1024) / 1024).astype(np.float32)

    def draw():
        base = rng.standard_normal(p)
        xs = [q(base + 0.3 * rng.standard_normal(p)) for _ in range(n)]
        # two outliers to make robust rules non-trivial
        xs[3] = q(rng.standard_normal(p) * 8)
        xs[7] = q(-3 * base)
        return xs

    def split(v):
        return [v[: layers[0]].copy(), v[layers[0]:].copy()]

    def flat(nd):
        return [float(x) for x in np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in nd])]

    xs = draw()
    ne = [int(x) for x in rng.integers(10, 100, n)]
    results = [(split(x), w) for x, w in zip(xs, ne)]
    OUT.mkdir(parents=True, exist_ok=True)

    def write(rule, params, expected, inputs=None, extra=None):
        d = {"rule": rule, "params": params, "n": n, "p": p, "num_examples": ne,
             "inputs": [[float(v) for v in x] for x in (inputs if inputs is not None else xs)],
             "expected": expected}
        if extra:
            d.update(extra)
        (OUT / f"flower_{rule.replace(':', '_').replace('=', '').replace(',', '_')}.json").write_text(
            json.dumps(d, separators=(",", ":")))

    write("fedavg", {}, flat(aggregate(results)))
    write("median", {}, flat(aggregate_median(results)))
    write("trimmed-mean:trim=0.2", {}, flat(aggregate_trimmed_avg(results, 0.2)))
    write("krum:f=2", {}, flat(aggregate_krum(results, 2, 0)))
    write("multi-krum:f=2,m=5", {}, flat(aggregate_krum(results, 2, 5)))
    write("bulyan:f=2", {}, flat(aggregate_bulyan(results, 2, aggregate_krum, to_keep=0)))

    # Server optimisers: two rounds, inputs are client weights; chorus sees deltas.
    current0 = q(rng.standard_normal(p))
    rounds_inputs = [xs, [q(current0 + 0.1 * rng.standard_normal(p)) for _ in range(n)]]
    for name, cls, kw in [("fedadam", FedAdam, dict(eta=0.1, beta_1=0.9, beta_2=0.99, tau=1e-3)),
                          ("fedyogi", FedYogi, dict(eta=0.01, beta_1=0.9, beta_2=0.99, tau=1e-3)),
                          ("fedadagrad", FedAdagrad, dict(eta=0.1, tau=1e-3))]:
        strat = cls(initial_parameters=ndarrays_to_parameters(split(current0)), **kw)
        cur = current0.astype(np.float64)
        rounds = []
        for r, ins in enumerate(rounds_inputs, start=1):
            res = [(None, FitRes(Status(Code.OK, ""), ndarrays_to_parameters(split(x)), w, {}))
                   for x, w in zip(ins, ne)]
            params, _ = strat.aggregate_fit(r, res, [])
            new = np.asarray(flat(parameters_to_ndarrays(params)))
            rounds.append({"inputs": [[float(v) for v in (x.astype(np.float64) - cur)] for x in ins],
                           "expected": [float(v) for v in new - cur]})
            cur = new
        tau_micro = int(round(kw["tau"] * 1e6))
        rule = f"{name}:eta={kw['eta']},tau=0.{tau_micro:06d}"
        if "beta_1" in kw:
            rule += f",beta1={kw['beta_1']},beta2={kw['beta_2']}"
        d = {"rule": rule, "n": n, "p": p, "num_examples": ne, "rounds": rounds}
        (OUT / f"flower_{name}.json").write_text(json.dumps(d, separators=(",", ":")))
    print("wrote", sorted(x.name for x in OUT.glob("flower_*.json")))


if __name__ == "__main__":
    ensure_venv()
    main()
