"""Train the "Deep MNIST" CNN (batch 50, Adam): engine vs PyTorch CPU, one BLAS thread.

    python bench/engine_cnn.py [--rounds N] [--steps N] [--batch 50]

conv5x5x32 SAME + ReLU -> maxpool 2 -> conv5x5x64 SAME + ReLU -> maxpool 2 -> fc1024 + ReLU
-> dropout 0.5 -> fc10, softmax cross-entropy, Adam 1e-4; prints median ms/step and the ratio,
the engine and PyTorch taking turns (`--steps` each per round) for `--rounds` rounds.
"""

from __future__ import annotations

import argparse
import itertools
import sys
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


def batch_data(batch: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return synthetic_batches(batch, 784, 10, seed=0)


def engine_step(batch: int) -> callable:
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)
        x = tf.placeholder(tf.float32, [None, 784])
        y_ = tf.placeholder(tf.float32, [None, 10])
        keep_prob = tf.placeholder(tf.float32)

        def weight(shape: list[int]) -> tf.Variable:
            return tf.Variable(tf.truncated_normal(shape, stddev=0.1))

        def bias(shape: list[int]) -> tf.Variable:
            return tf.Variable(tf.constant(0.1, shape=shape))

        def conv(a: tf.Tensor, w: tf.Variable) -> tf.Tensor:
            return tf.nn.conv2d(a, w, strides=[1, 1, 1, 1], padding="SAME")

        def pool(a: tf.Tensor) -> tf.Tensor:
            return tf.nn.max_pool(a, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")

        image = tf.reshape(x, [-1, 28, 28, 1])
        h1 = pool(tf.nn.relu(conv(image, weight([5, 5, 1, 32])) + bias([32])))
        h2 = pool(tf.nn.relu(conv(h1, weight([5, 5, 32, 64])) + bias([64])))
        flat = tf.reshape(h2, [-1, 7 * 7 * 64])
        fc = tf.nn.relu(tf.matmul(flat, weight([7 * 7 * 64, 1024])) + bias([1024]))
        logits = tf.matmul(tf.nn.dropout(fc, keep_prob), weight([1024, 10])) + bias([10])
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y_, logits=logits))
        train = tf.train.AdamOptimizer(1e-4).minimize(loss)
        sess = tf.Session()
        sess.run(tf.global_variables_initializer())
    feeds = itertools.cycle([{x: xb, y_: yb, keep_prob: 0.5} for xb, yb in batch_data(batch)])
    return lambda: sess.run([train, loss], next(feeds))


def torch_step(batch: int) -> callable:
    import torch
    from torch import nn

    model = nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(7 * 7 * 64, 1024), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    batches = [(torch.from_numpy(xb).reshape(-1, 1, 28, 28), torch.from_numpy(yb.argmax(1)))
               for xb, yb in batch_data(batch)]
    return torch_train_step(model, opt, itertools.cycle(batches))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    _limiter = limit_threads()
    print(f"BLAS: {blas_report()}")
    if torch_available():
        ms = interleaved_ms({"engine": engine_step(args.batch), "torch": torch_step(args.batch)},
                            args.rounds, args.steps)
        eng, ref = ms["engine"], ms["torch"]
        print(f"Deep MNIST CNN batch {args.batch}: engine {eng:.1f} ms/step, torch {ref:.1f} "
              f"ms/step, engine/torch {eng / ref:.2f}")
    else:
        eng = median_ms(engine_step(args.batch), args.rounds * args.steps)
        print(f"Deep MNIST CNN batch {args.batch}: engine {eng:.1f} ms/step (PyTorch not "
              f"installed: pip install -e '.[bench]')")


if __name__ == "__main__":
    main()
