"""Serving latency: a loaded snapshot's `predict` vs the same MLP in PyTorch (CPU, eager) and
in hand-written numpy.

    python bench/serve_predict.py [--rounds N]

Exports a 784-512-256-128-10 ReLU MLP with softmax output, loads the snapshot back, and prints
the median ms per call at batch 1 and 64 with the ratios snapshot/numpy and snapshot/torch, all
measured in this run with one BLAS thread, the three taking turns round by round. Every call
starts from a numpy batch and ends with numpy arrays, for all three.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import blas_report, interleaved_ms, limit_threads, torch_available

import engine as tf

DIMS = [784, 512, 256, 128, 10]


def parameters() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(rng.normal(0, np.sqrt(2 / m), (m, n)).astype(np.float32),
             rng.normal(0, 0.1, n).astype(np.float32)) for m, n in pairwise(DIMS)]


def snapshot_predict(params: list[tuple[np.ndarray, np.ndarray]], directory: str,
                     ) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, DIMS[0]], name="x")
        h = x
        for i, (w, b) in enumerate(params):
            h = tf.nn.bias_add(tf.matmul(h, tf.Variable(w)), tf.Variable(b))
            if i < len(params) - 1:
                h = tf.nn.relu(h)
        probs = tf.nn.softmax(h)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            path = tf.saved_model.save(sess, directory, {"x": x}, {"probs": probs})
    predictor = tf.saved_model.load(path)
    return lambda xb: predictor.predict({"x": xb})


def numpy_predict(params: list[tuple[np.ndarray, np.ndarray]]) -> Callable[[np.ndarray], Any]:
    def predict(xb: np.ndarray) -> np.ndarray:
        h = xb
        for i, (w, b) in enumerate(params):
            h = h @ w
            h += b
            if i < len(params) - 1:
                np.maximum(h, 0, out=h)
        h -= h.max(axis=1, keepdims=True)
        np.exp(h, out=h)
        h /= h.sum(axis=1, keepdims=True)
        return h

    return predict


def torch_predict(params: list[tuple[np.ndarray, np.ndarray]]) -> Callable[[np.ndarray], Any]:
    import torch

    layers: list[torch.nn.Module] = []
    for i, (w, b) in enumerate(params):
        linear = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w.T))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        layers.append(torch.nn.ReLU() if i < len(params) - 1 else torch.nn.Softmax(dim=1))
    model = torch.nn.Sequential(*layers).eval()

    def predict(xb: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(xb)).numpy()

    return predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    _limiter = limit_threads()
    print(f"BLAS: {blas_report()}")
    params = parameters()
    have_torch = torch_available()
    if not have_torch:
        print("PyTorch not installed (pip install -e '.[bench]'): torch column skipped")
    with tempfile.TemporaryDirectory() as directory:
        runners = {"snapshot": snapshot_predict(params, directory),
                   "numpy": numpy_predict(params)}
        if have_torch:
            runners["torch"] = torch_predict(params)
        print(f"{'net':<20}{'batch':>6}{'snapshot ms':>13}{'numpy ms':>10}{'torch ms':>10}"
              f"{'snap/np':>9}{'snap/torch':>12}")
        for batch in (1, 64):
            xb = np.random.default_rng(1).random((batch, DIMS[0]), dtype=np.float32)
            expected = runners["numpy"](xb)
            np.testing.assert_allclose(runners["snapshot"](xb)["probs"], expected, atol=1e-5)
            calls = {name: (lambda run=run, xb=xb: run(xb)) for name, run in runners.items()}
            ms = interleaved_ms(calls, args.rounds, 100 if batch == 1 else 20, warmup=5)
            torch_ms = ms.get("torch", float("nan"))
            print(f"{'-'.join(map(str, DIMS)):<20}{batch:>6}{ms['snapshot']:>13.4f}"
                  f"{ms['numpy']:>10.4f}{torch_ms:>10.4f}{ms['snapshot'] / ms['numpy']:>9.2f}"
                  f"{ms['snapshot'] / torch_ms:>12.2f}")


if __name__ == "__main__":
    main()
