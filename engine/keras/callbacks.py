"""`tf.keras.callbacks`: hooks that `fit` calls around epochs and batches.

`TensorBoard(log_dir)` records each epoch's logs with `tf.summary.FileWriter`, so they land in
`<log_dir>/metrics.jsonl` (the platform collects that file as a trial's metrics). Tags are the
log keys as TF 1.x's Keras wrote them: 'loss', the metric names as given to `compile`
('acc', ...), and 'val_'-prefixed ones; the step is the epoch index (from 0).
"""

from __future__ import annotations

import json
import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.summary import FileWriter

if TYPE_CHECKING:
    from engine.keras.models import Sequential

__all__ = ["Callback", "EarlyStopping", "History", "TensorBoard"]

Logs = dict[str, float] | None


class Callback:
    """Base class: override the hooks you need. `model` and `params` are set by `fit`."""

    def __init__(self) -> None:
        self.model: Sequential | None = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Sequential) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Logs = None) -> None:
        pass

    def on_train_end(self, logs: Logs = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        pass

    def on_batch_begin(self, batch: int, logs: Logs = None) -> None:
        pass

    def on_batch_end(self, batch: int, logs: Logs = None) -> None:
        pass


class History(Callback):
    """Per-epoch logs: `history['loss'][i]` is epoch `epoch[i]`'s mean training loss."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}

    def on_train_begin(self, logs: Logs = None) -> None:
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class EarlyStopping(Callback):
    """Stop training once `monitor` has not improved by more than `min_delta` for `patience`
    epochs; optionally put back the weights of the best epoch."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto",
                 restore_best_weights: bool = False) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping mode must be 'auto', 'min' or 'max', got {mode!r}.")
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.restore_best_weights = restore_best_weights
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self._better = np.greater if mode == "max" else np.less
        self.min_delta = abs(min_delta) if mode == "max" else -abs(min_delta)
        self.wait, self.stopped_epoch = 0, 0
        self.best = math.inf
        self.best_weights: list[np.ndarray] | None = None

    def on_train_begin(self, logs: Logs = None) -> None:
        self.wait, self.stopped_epoch, self.best_weights = 0, 0, None
        self.best = -math.inf if self._better is np.greater else math.inf

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        assert self.model is not None
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs or {})}",
                          RuntimeWarning, stacklevel=2)
            return
        if self._better(current - self.min_delta, self.best):
            self.best, self.wait = current, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs: Logs = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1:05d}: early stopping")


class TensorBoard(Callback):
    """Writes each epoch's logs (and, with write_graph, the model's graph) under `log_dir`."""

    def __init__(self, log_dir: str = "./logs", write_graph: bool = True) -> None:
        super().__init__()
        self.log_dir, self.write_graph = log_dir, write_graph
        self._writer: FileWriter | None = None

    def on_train_begin(self, logs: Logs = None) -> None:
        assert self.model is not None
        self._writer = FileWriter(self.log_dir, self.model.graph if self.write_graph else None)

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        assert self._writer is not None
        values = {key: float(value) for key, value in (logs or {}).items()}
        self._writer.add_summary(json.dumps(values), epoch)

    def on_train_end(self, logs: Logs = None) -> None:
        assert self._writer is not None
        self._writer.close()
        self._writer = None
