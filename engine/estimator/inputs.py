"""`tf.estimator.inputs`: input functions, and how an estimator reads them.

An input_fn hands the estimator numpy batches that it feeds into placeholders. Called with
no arguments (inside the estimator's graph), an input_fn returns either

- an iterator of batches, each `(features, labels)` or `features` alone; iteration ends the
  input (e.g. after `num_epochs` of `numpy_input_fn`), or
- a `tf.data.Dataset` of such elements, or the tensors of an iterator's `get_next()` (or
  tensors computed from them): each batch is one Session run, and the end of the dataset
  (OutOfRangeError) ends the input, as in TF, or
- one batch, `(features, labels)` or `features`, as arrays or constant tensors: it is
  evaluated once and used as the full batch of every training step (and once to evaluate or
  predict).

`features` is a dict of arrays keyed by feature name, or a single array (feature key '').
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from itertools import count, repeat
from typing import Any

import numpy as np

from engine.data import Dataset
from engine.errors import OutOfRangeError
from engine.graph import Graph, Operation, Tensor
from engine.session import Session

__all__ = ["numpy_input_fn"]

Batch = tuple[Any, Any]


def numpy_input_fn(x: Any, y: Any = None, batch_size: int = 128, num_epochs: int | None = 1,
                   shuffle: bool | None = None, queue_capacity: int = 1000,
                   num_threads: int = 1, seed: int | None = 0) -> Callable[[], Iterator[Any]]:
    """An input_fn yielding batches of `x` (dict of arrays, or one array) and `y`.

    `num_epochs=None` repeats forever. `shuffle` must be given, as in TF. Shuffling draws from
    one generator per input_fn, seeded with `seed` (so runs repeat; None: fresh randomness),
    that carries on across calls: each `train()` sees new orders. queue_capacity and
    num_threads are accepted for TF's signature; batches are made on demand."""
    if not isinstance(shuffle, bool):
        raise ValueError(f"shuffle must be provided explicitly as boolean (it is recommended "
                         f"to set it True for training), got {shuffle}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    if num_epochs is not None and num_epochs < 1:
        raise ValueError(f"num_epochs must be None or positive, got {num_epochs}.")
    arrays = {k: np.asarray(v) for k, v in x.items()} if isinstance(x, Mapping) \
        else {"": np.asarray(x)}
    labels = None if y is None else np.asarray(y)
    sizes = {k: len(v) for k, v in arrays.items()}
    if labels is not None:
        sizes["<labels y>"] = len(labels)
    if not arrays or len(set(sizes.values())) != 1:
        raise ValueError(f"x and y must hold the same number of examples, got {sizes}.")
    n = next(iter(sizes.values()))
    rng = np.random.default_rng(seed)

    def batches() -> Iterator[Any]:
        for _ in range(num_epochs) if num_epochs is not None else count():
            # A full batch's order doesn't matter, so it is never copied.
            order = rng.permutation(n) if shuffle and batch_size < n else None
            for start in range(0, n, batch_size):
                rows: Any = slice(start, start + batch_size) if order is None else \
                    order[start:start + batch_size]
                features = {k: v[rows] for k, v in arrays.items()}
                out = features if isinstance(x, Mapping) else features[""]
                yield out if labels is None else (out, labels[rows])

    def input_fn() -> Iterator[Any]:
        return batches()

    return input_fn


def read_batches(input_fn: Callable[[], Any], graph: Graph) -> tuple[Iterator[Batch], bool]:
    """(iterator of numpy (features, labels), whether the input is one constant batch) from
    calling `input_fn` in `graph`; a constant batch repeats without end."""
    with graph.as_default():
        result = input_fn()
        if isinstance(result, Dataset):
            result = result.make_one_shot_iterator().get_next()
    if isinstance(result, Iterator):
        return (_split(item) for item in result), False
    features, labels = _split(result)
    tensors = [v for v in (*_leaves(features), labels)
               if isinstance(v, Tensor) or hasattr(v, "_as_graph_element")]
    if tensors and _reads_an_iterator(tensors):
        return _pulled(features, labels, Session(graph=graph)), False
    if tensors:
        session = Session(graph=graph)
        try:
            features, labels = _evaluated(features, session), _evaluated(labels, session)
        finally:
            session.close()
    return repeat((features, labels)), True


def _reads_an_iterator(tensors: list[Any]) -> bool:
    """Whether these tensors come from a tf.data iterator: each run gives a new batch."""
    seen: set[Operation] = set()
    pending = [t._as_graph_element().op if hasattr(t, "_as_graph_element") else t.op
               for t in tensors]
    while pending:
        op = pending.pop()
        if op in seen:
            continue
        if op.type == "IteratorGetNext":
            return True
        seen.add(op)
        pending.extend(t.op for t in op.inputs)
    return False


def _pulled(features: Any, labels: Any, session: Session) -> Iterator[Batch]:
    """Batches from running the tensors until their dataset ends (OutOfRangeError)."""
    fetches = {"features": features, "labels": labels} if labels is not None \
        else {"features": features}
    try:
        while True:
            try:
                batch = session.run(fetches)
            except OutOfRangeError:
                return
            yield batch["features"], batch.get("labels")
    finally:
        session.close()


def _split(item: Any) -> Batch:
    if isinstance(item, tuple):
        if len(item) != 2:
            raise ValueError(f"input_fn must give (features, labels) or features, got a tuple "
                             f"of {len(item)} items.")
        return item
    return item, None


def _leaves(features: Any) -> list[Any]:
    return list(features.values()) if isinstance(features, Mapping) else [features]


def _evaluated(value: Any, session: Session) -> Any:
    if isinstance(value, Mapping):
        return {k: _evaluated(v, session) for k, v in value.items()}
    if isinstance(value, Tensor) or hasattr(value, "_as_graph_element"):
        return session.run(value)
    return value
