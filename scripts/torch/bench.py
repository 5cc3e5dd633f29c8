#!/usr/bin/env python3
"""PyTorch CPU reference for chorus-trainer's bench (crates/trainer/src/bench.rs).

Trains one epoch of the same model (plain SGD, same batch size and learning rate, x/255 inputs,
shuffled, last partial batch kept) on the first N MNIST training samples with ONE thread, and prints
one JSON line: {"model", "samples", "seconds", "samples_per_s", "test_accuracy", "torch"}.
Only the epoch loop is timed (data loading and evaluation are not).
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows * cols)
    if magic == 2049:
        return np.frombuffer(data, dtype=np.uint8, offset=8)
    raise ValueError(f"{path}: bad IDX magic {magic:#x}")


def find(d, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(os.path.join(d, stem + ".gz"))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 200), nn.Linear(200, 200), nn.Linear(200, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x)


class Cnn(nn.Module):
    """McMahan et al. 2017 CNN (c1=32, c2=64, hidden=512) or the small variant (16, 32, 128)."""

    def __init__(self, c1=32, c2=64, hidden=512):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 5, padding=2)
        self.conv2 = nn.Conv2d(c1, c2, 5, padding=2)
        self.fc1 = nn.Linear(c2 * 7 * 7, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        x = x.view(-1, 1, 28, 28)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        return self.fc2(F.relu(self.fc1(x)))


def build(name):
    return {"mlp": Mlp, "logreg": LogReg, "cnn": Cnn, "cnn-small": lambda: Cnn(16, 32, 128)}[name]()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--samples", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--evaluate", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = read_idx(find(a.data_dir, "train-images-idx3-ubyte"))
    y = read_idx(find(a.data_dir, "train-labels-idx1-ubyte"))
    n = len(y) if a.samples <= 0 else min(a.samples, len(y))
    X = torch.from_numpy(x[:n].astype(np.float32) / 255.0)
    Y = torch.from_numpy(y[:n].astype(np.int64))
    model = build(a.model)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr)
    perm = torch.randperm(n)
    t0 = time.perf_counter()
    model.train()
    for i in range(0, n, a.batch):
        idx = perm[i:i + a.batch]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(X[idx]), Y[idx])
        loss.backward()
        opt.step()
    secs = time.perf_counter() - t0
    acc = None
    if a.evaluate:
        tx = read_idx(find(a.data_dir, "t10k-images-idx3-ubyte"))
        ty = read_idx(find(a.data_dir, "t10k-labels-idx1-ubyte"))
        model.eval()
        with torch.no_grad():
            correct = 0
            for i in range(0, len(ty), 1000):
                xb = torch.from_numpy(tx[i:i + 1000].astype(np.float32) / 255.0)
                correct += int((model(xb).argmax(1).numpy() == ty[i:i + 1000]).sum())
        acc = correct / len(ty)
    print(json.dumps({"model": a.model, "samples": n, "seconds": secs, "samples_per_s": n / secs,
                      "test_accuracy": acc, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
