"""Shared benchmark plumbing: a free port, one BLAS thread, BLAS kernel report, median step
timing (alone, or several contenders taking turns so that a shared machine's drifting speed
hits them alike)."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any


def free_port() -> int:
    """A TCP port free on loopback now, for a server a benchmark starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def limit_threads() -> Any:
    """Pin numpy's BLAS (and torch, if loaded) to one thread; returns the limiter to keep."""
    import numpy  # noqa: F401  (its BLAS must be loaded for the limit to reach it)
    from threadpoolctl import threadpool_limits

    limiter = threadpool_limits(limits=1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    return limiter


def blas_report() -> str:
    """Which BLAS numpy uses and which core kernel it picked (OPENBLAS_CORETYPE matters)."""
    import os

    from threadpoolctl import threadpool_info

    parts = []
    for info in threadpool_info():
        if info.get("user_api") == "blas":
            parts.append(f"{info.get('internal_api')} {info.get('version')} "
                         f"kernel={info.get('architecture')} threads={info.get('num_threads')}")
    coretype = os.environ.get("OPENBLAS_CORETYPE", "<unset>")
    return "; ".join(parts) + f" (OPENBLAS_CORETYPE={coretype})"


def median_ms(step: Callable[[], Any], steps: int, warmup: int = 3) -> float:
    """Median wall time of one call to `step`, in milliseconds."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def interleaved_ms(runners: dict[str, Callable[[], Any]], rounds: int, steps: int,
                   warmup: int = 3) -> dict[str, float]:
    """Median over rounds of each runner's per-round median ms per call; every round runs each
    runner `steps` times in turn, so a slow spell of the machine lands on all of them, and a
    ratio of two results compares like with like."""
    for run in runners.values():
        for _ in range(warmup):
            run()
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            samples[name].append(median_ms(run, steps, warmup=0))
    return {name: statistics.median(values) for name, values in samples.items()}


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def synthetic_batches(batch: int, features: int, classes: int, seed: int,
                      count: int = 16) -> list[tuple[Any, Any]]:
    """`count` different (inputs in [0, 1), one-hot labels) float32 batches for a training
    benchmark to cycle through: with one fixed batch, small batches are memorised within a
    few steps and every contender then crawls through subnormal-float gradients, which says
    nothing about training speed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    eye = np.eye(classes, dtype=np.float32)
    return [(rng.random((batch, features), dtype=np.float32),
             eye[rng.integers(0, classes, batch)]) for _ in range(count)]


def torch_train_step(model: Any, optimizer: Any,
                     batches: Iterator[tuple[Any, Any]]) -> Callable[[], float]:
    """One PyTorch eager training step (cross-entropy on class ids) on the next of `batches`,
    the usual peer."""
    import torch

    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> float:
        x, labels = next(batches)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step
