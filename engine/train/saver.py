"""Checkpoints: `tf.train.Saver` writes variables to `<prefix>.npz`, never pickles.

A checkpoint is numpy's npz (a zip of .npy members, one per variable, keyed by the variable's
op name), readable with `np.load(path, allow_pickle=False)`. Next to it, a text file named
`checkpoint` in TF's format lists the latest and all kept checkpoints (paths relative to the
directory), which `latest_checkpoint` reads. Every file is written to a temporary file in the
same directory and moved into place with os.replace, so readers never see half a file.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from typing import IO, Any

import numpy as np

from engine import errors, gfile
from engine.graph import GraphKeys, Tensor, get_default_graph
from engine.ops.array_ops import placeholder
from engine.ops.control_flow_ops import group
from engine.ops.state_ops import assign
from engine.session import Session
from engine.shapes import compatible, fmt
from engine.train.training_util import global_step as _step_value
from engine.variables import Variable

CHECKPOINT_FILENAME = "checkpoint"
SUFFIX = ".npz"


class Saver:
    """Saves and restores a fixed set of variables.

    The restore ops (a placeholder and an Assign per variable) are built once here, so restoring
    feeds values into them and never grows the graph.
    """

    def __init__(self, var_list: Sequence[Variable] | Mapping[str, Variable] | None = None,
                 max_to_keep: int | None = 5, name: str | None = None) -> None:
        self._vars = _named(var_list)
        if not self._vars:
            raise ValueError("No variables to save")
        self._max_to_keep = max_to_keep
        self._last: list[str] = []
        graph = next(iter(self._vars.values())).graph
        self._feeds: dict[str, Tensor] = {}
        with graph.as_default(), graph.name_scope(name or "save"):
            assigns = []
            for key, var in self._vars.items():
                self._feeds[key] = placeholder(var.dtype, var.op.attrs["shape"])
                assigns.append(assign(var, self._feeds[key]))
            self._restore_op = group(*assigns, name="restore_all")

    @property
    def last_checkpoints(self) -> list[str]:
        """The checkpoints this Saver wrote and still keeps, oldest first."""
        return list(self._last)

    def save(self, sess: Any, save_path: str, global_step: Any = None) -> str:
        """Write the variables' values in `sess`; returns the checkpoint prefix
        (`save_path`, or `save_path-<step>` when global_step is given)."""
        _check_session(sess)
        if not isinstance(save_path, str):
            raise TypeError(f"save_path must be a string, got {save_path!r}.")
        save_path = gfile.resolve(save_path)
        if global_step is not None:
            step = (global_step if isinstance(global_step, int | np.integer)
                    else _step_value(sess, global_step))
            save_path = f"{save_path}-{int(step)}"
        directory = gfile.parent_dir(save_path)
        if not gfile.IsDirectory(directory) and not gfile.is_remote(directory):
            raise ValueError(f"Parent directory of {save_path} doesn't exist, can't save.")
        buffer = io.BytesIO()
        _write_npz(buffer, sess.run(dict(self._vars)))
        gfile.write_file(save_path + SUFFIX, buffer.getvalue())
        self._remember(save_path)
        _write_checkpoint_state(directory, save_path, self._last or [save_path])
        return save_path

    def restore(self, sess: Any, save_path: str) -> None:
        """Load every variable of this Saver from checkpoint `save_path` into `sess`."""
        _check_session(sess)
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        if not isinstance(save_path, str):
            raise TypeError(f"save_path must be a string, got {save_path!r}.")
        save_path = gfile.resolve(save_path)
        try:
            blob = gfile.read_file(save_path + SUFFIX)
        except (FileNotFoundError, IsADirectoryError):
            raise ValueError(f"The passed save_path is not a valid checkpoint: "
                             f"{save_path}") from None
        feeds = {}
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as data:
                for key, var in self._vars.items():
                    if key not in data.files:
                        raise errors.NotFoundError(
                            None, None, f"Key {key} not found in checkpoint {save_path}")
                    value = data[key]
                    _check_restorable(key, var, value, save_path)
                    feeds[self._feeds[key]] = value
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as e:
            raise errors.DataLossError(
                None, None, f"Unable to read checkpoint {save_path}: {e}. The file is truncated, "
                            f"corrupt or was not written by tf.train.Saver.") from e
        sess.run(self._restore_op, feeds)

    def _remember(self, path: str) -> None:
        """Track kept checkpoints; delete the oldest beyond max_to_keep (0/None keeps all)."""
        if not self._max_to_keep:
            return
        if path in self._last:
            self._last.remove(path)
        self._last.append(path)
        while len(self._last) > self._max_to_keep:
            gfile.remove_if_there(self._last.pop(0) + SUFFIX)


def _check_session(sess: Any) -> None:
    if not isinstance(sess, Session):
        raise TypeError(f"'sess' must be a Session; {sess!r}")


def _named(var_list: Sequence[Variable] | Mapping[str, Variable] | None) -> dict[str, Variable]:
    """Checkpoint keys: the dict's keys, or each variable's op name ('W', 'W/Adam')."""
    if var_list is None:
        var_list = get_default_graph().get_collection(GraphKeys.GLOBAL_VARIABLES)
    if isinstance(var_list, Mapping):
        named = dict(var_list)
    else:
        named = {}
        for var in var_list:
            if not isinstance(var, Variable):
                raise TypeError(f"Saver can only save Variables, got {var!r}.")
            if var.op.name in named:
                raise ValueError(f"At least two variables have the same name: {var.op.name}")
            named[var.op.name] = var
    for key, var in named.items():
        if not isinstance(var, Variable):
            raise TypeError(f"Saver can only save Variables; {key!r} is {var!r}.")
    return named


def _check_restorable(key: str, var: Variable, value: np.ndarray, save_path: str) -> None:
    if value.dtype != var.dtype.np:
        raise errors.InvalidArgumentError(
            None, None, f"tensor_name = {key}; expected dtype {var.dtype.name} does not equal "
                        f"original dtype {value.dtype} in checkpoint {save_path}")
    shape = var.op.attrs["shape"]
    if not compatible(shape, value.shape):
        raise errors.InvalidArgumentError(
            None, None, f"Restoring from checkpoint {save_path} failed for '{key}': Assign "
                        f"requires shapes of both tensors to match. lhs shape= {fmt(shape)} "
                        f"rhs shape= {fmt(value.shape)}")


def _write_npz(f: IO[bytes], values: dict[str, Any]) -> None:
    """np.savez's format, written member by member so any variable name is a valid key and
    object arrays are refused (allow_pickle=False)."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, value in values.items():
            with archive.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)


def _write_checkpoint_state(directory: str, latest: str, kept: list[str]) -> None:
    lines = [f"model_checkpoint_path: {json.dumps(_relative(latest, directory))}"]
    lines += [f"all_model_checkpoint_paths: {json.dumps(_relative(p, directory))}"
              for p in kept]
    gfile.write_file(gfile.join(directory, CHECKPOINT_FILENAME), ("\n".join(lines) + "\n").encode())


def _relative(path: str, directory: str) -> str:
    """`path` as the state file records it: relative to its directory where it can be."""
    if not gfile.is_remote(path):
        return os.path.relpath(path, directory)
    prefix = directory.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else path


def latest_checkpoint(checkpoint_dir: str) -> str | None:
    """The prefix of the newest checkpoint recorded in `checkpoint_dir`, or None."""
    try:
        lines = gfile.read_file(gfile.join(checkpoint_dir, CHECKPOINT_FILENAME)).decode(
            "utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None  # missing or unreadable: no checkpoint, as in TF
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "model_checkpoint_path":
            try:
                name = json.loads(value)
                path = name if gfile.is_remote(name) else gfile.join(checkpoint_dir, name)
            except (TypeError, ValueError):
                return None  # a corrupt state file names no checkpoint, as in TF
            return path if gfile.Exists(path + SUFFIX) else None
    return None
