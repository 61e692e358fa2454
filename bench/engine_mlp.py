"""Train a ReLU MLP with softmax cross-entropy and Adam: engine vs hand-written numpy vs PyTorch.

    python bench/engine_mlp.py [--device cpu|gpu] [--steps N]

Prints ms/step (median) per batch size and the ratios engine/numpy and engine/torch, all
measured in this run with one BLAS thread, the three taking turns round by round (so a busy
spell of a shared machine hits them alike). `--device gpu` compares the engine on CuPy with the
engine on numpy instead.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    blas_report,
    interleaved_ms,
    limit_threads,
    median_ms,
    synthetic_batches,
    torch_available,
    torch_train_step,
)

import engine as tf

LR, B1, B2, EPS = 1e-3, 0.9, 0.999, 1e-8


def glorot(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)


def data(batch: int, dims: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    return synthetic_batches(batch, dims[0], dims[-1], seed=1)


def engine_step(dims: list[int], batch: int, device: str) -> callable:
    graph = tf.Graph()
    with graph.as_default():
        rng = np.random.default_rng(0)
        x = tf.placeholder(tf.float32, [None, dims[0]])
        y = tf.placeholder(tf.float32, [None, dims[-1]])
        h = x
        for i, (fan_in, fan_out) in enumerate(pairwise(dims)):
            w = tf.Variable(glorot(rng, fan_in, fan_out))
            b = tf.Variable(np.zeros(fan_out, np.float32))
            h = tf.matmul(h, w) + b
            if i < len(dims) - 2:
                h = tf.nn.relu(h)
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=h))
        train = tf.train.AdamOptimizer(LR).minimize(loss)
        sess = tf.Session(device=device)
        sess.run(tf.global_variables_initializer())
    feeds = itertools.cycle([{x: xb, y: yb} for xb, yb in data(batch, dims)])
    return lambda: sess.run([train, loss], next(feeds))


def numpy_step(dims: list[int], batch: int) -> callable:
    """A straightforward hand-written forward/backward + Adam, float32, in-place updates."""
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in pairwise(dims):
        params += [glorot(rng, fan_in, fan_out), np.zeros(fan_out, np.float32)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    batches = itertools.cycle(data(batch, dims))
    state = {"t": 0}

    def step() -> float:
        xb, yb = next(batches)
        acts = [xb]
        h = xb
        n_layers = len(params) // 2
        for i in range(n_layers):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < n_layers - 1:
                np.maximum(h, 0, out=h)
            acts.append(h)
        logits = acts[-1]
        z = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        loss = float(-(yb * (z - np.log(e.sum(axis=1, keepdims=True)))).sum() / batch)
        g = (p - yb) / np.float32(batch)
        grads = [None] * len(params)
        for i in reversed(range(n_layers)):
            grads[2 * i] = acts[i].T @ g
            grads[2 * i + 1] = g.sum(axis=0)
            if i > 0:
                g = g @ params[2 * i].T
                g *= acts[i] > 0
        state["t"] += 1
        t = state["t"]
        lr_t = np.float32(LR * np.sqrt(1 - B2**t) / (1 - B1**t))
        for p_, g_, m_, v_ in zip(params, grads, m, v, strict=True):
            m_ *= B1
            m_ += (1 - B1) * g_
            v_ *= B2
            v_ += (1 - B2) * g_ * g_
            p_ -= lr_t * m_ / (np.sqrt(v_) + EPS)
        return loss

    return step


def torch_step(dims: list[int], batch: int) -> callable:
    import torch

    layers: list[torch.nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(pairwise(dims)):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(dims) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(B1, B2), eps=EPS)
    batches = [(torch.from_numpy(xb), torch.from_numpy(yb.argmax(1)))
               for xb, yb in data(batch, dims)]
    return torch_train_step(model, opt, itertools.cycle(batches))


def steps_for(batch: int, requested: int | None) -> int:
    return requested or (200 if batch <= 32 else 60 if batch <= 128 else 20)


ROUNDS = 5  # the total steps per contender are split into this many turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    _limiter = limit_threads()
    print(f"BLAS: {blas_report()}")
    big = [784, 512, 256, 128, 10]
    cases = [(big, b) for b in (1, 32, 128, 1024)] + [([784, 128, 10], 32)]
    if args.device == "gpu":
        print(f"{'net':<22}{'batch':>6}{'gpu ms':>10}{'cpu ms':>10}{'gpu/cpu':>9}")
        for dims, batch in cases:
            n = steps_for(batch, args.steps)
            gpu = median_ms(engine_step(dims, batch, "/gpu:0"), n)
            cpu = median_ms(engine_step(dims, batch, "/cpu:0"), n)
            print(f"{'-'.join(map(str, dims)):<22}{batch:>6}{gpu:>10.3f}{cpu:>10.3f}"
                  f"{gpu / cpu:>9.2f}")
        return
    have_torch = torch_available()
    if not have_torch:
        print("PyTorch not installed (pip install -e '.[bench]'): torch column skipped")
    print(f"{'net':<22}{'batch':>6}{'engine ms':>11}{'numpy ms':>10}{'torch ms':>10}"
          f"{'eng/np':>8}{'eng/torch':>10}")
    for dims, batch in cases:
        n = steps_for(batch, args.steps)
        runners = {"engine": engine_step(dims, batch, ""), "numpy": numpy_step(dims, batch)}
        if have_torch:
            runners["torch"] = torch_step(dims, batch)
        ms = interleaved_ms(runners, ROUNDS, max(n // ROUNDS, 1))
        eng, hand, torch_ms = ms["engine"], ms["numpy"], ms.get("torch", float("nan"))
        print(f"{'-'.join(map(str, dims)):<22}{batch:>6}{eng:>11.3f}{hand:>10.3f}"
              f"{torch_ms:>10.3f}{eng / hand:>8.2f}{eng / torch_ms:>10.2f}")


if __name__ == "__main__":
    main()
