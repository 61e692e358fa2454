"""The request-path helpers of api.state: lookups shared by concurrent requests."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from api.state import Coalescer


def test_concurrent_lookups_of_one_key_share_one_call() -> None:
    calls: list[str] = []
    lock = threading.Lock()

    def lookup(key: str) -> str:
        with lock:
            calls.append(key)
        time.sleep(0.05)  # long enough for every request to arrive while it runs
        return f"uri of {key}"

    async def requests() -> list[str]:
        coalescer = Coalescer()
        return await asyncio.gather(*[coalescer.run(k, lookup, k)
                                      for k in ["a"] * 20 + ["b"] * 5])

    results = asyncio.run(requests())
    assert results == ["uri of a"] * 20 + ["uri of b"] * 5
    assert sorted(calls) == ["a", "b"]


def test_an_error_reaches_every_sharer_and_the_next_call_tries_again() -> None:
    attempts = []

    def lookup() -> str:
        attempts.append(1)
        time.sleep(0.02)
        if len(attempts) == 1:
            raise LookupError("no such model")
        return "found"

    async def requests() -> tuple[list[object], str]:
        coalescer = Coalescer()
        first = await asyncio.gather(*[coalescer.run("m", lookup) for _ in range(5)],
                                     return_exceptions=True)
        return first, await coalescer.run("m", lookup)

    first, again = asyncio.run(requests())
    assert all(isinstance(e, LookupError) for e in first) and len(attempts) == 2
    assert again == "found"


@pytest.mark.parametrize("values", [[1e308, 1e308], [float("nan"), 1.0], [float("inf")]])
def test_instances_with_huge_or_non_finite_values(values: list[float]) -> None:
    """The quick finiteness check must not refuse huge finite values, nor let a NaN or an
    infinity through."""
    import numpy as np

    from api.prediction import PredictionInputError, _Input

    spec = _Input("x", np.dtype("float64"), (None,))
    finite = bool(np.isfinite(values).all())
    if finite:
        assert spec.batch([values], lambda i: f"instance {i}").tolist() == [values]
    else:
        with pytest.raises(PredictionInputError):
            spec.batch([values], lambda i: f"instance {i}")
