"""What the built-in trainers share: arguments, data, features, the train/evaluate loop and the
export of the snapshot.

Arguments: every flag is also accepted with underscores (`--max_steps=500`), because
hyperparameter tuning appends `--<parameterName>=<value>`. Unusable arguments or data end the
process with exit status 2 and a message naming the flag or column to fix.

Data: `--train-files` / `--eval-files` are comma-separated URIs (`s3://bucket/key`,
`file:///abs/path`, or a local path), read through the object store with the KUMO_* settings.
`.csv` (or `.csv.gz`): a header row, then one example per row. `.npz`: arrays `x` (examples
first, flattened to columns x0, x1, ...) and `y` (the default label column), or one 1-D array
per column. Without eval files, a seeded `--eval-fraction` of the training rows is held out.

Features are all columns but the label, in file order. A column whose training values are all
numbers is numeric; any other is categorical (vocabulary: the training values; an unseen value
encodes as all zeros). Numeric columns are standardized with the training mean and standard
deviation inside the model graph, so a served snapshot takes raw values. They travel together
as one snapshot input (float32 [batch, number of numeric columns], in column order); each
categorical column is an input of its own (int64 vocabulary ids: the prediction service maps
values to ids with the vocabulary in the snapshot's metadata).

Labels: classification labels are integers or strings, and the classes are the sorted distinct
labels of the training and eval data; regression labels are numbers, which the network learns
standardized by the training labels' mean and spread (the snapshot predicts in their units).

Metrics: the estimator writes its summary lines (engine.summary.FileWriter) into a local
model_dir; they are re-tagged and appended to $KUMO_METRICS_FILE, where the runner collects
them: evaluation metrics under their own names (`loss`, `accuracy`, `average_loss`, `rmse`,
...: what tuning optimizes), training-batch metrics as `train/<tag>`. Progress goes to stdout.

Tuning: a study names one of those evaluation metrics as its hyperparameterMetricTag, e.g.
`accuracy` with goal MAXIMIZE, or `loss` / `rmse` with MINIMIZE (the trainers do not guess a
direction for CloudML's default tag, and a trial that never reports the tag fails saying which
tags it did report). Any flag can be tuned by its name with underscores or dashes:
`learning_rate` (DOUBLE, UNIT_LOG_SCALE), `hidden_units` (CATEGORICAL such as "64,32", or
INTEGER for one layer), `batch_size` and `max_steps` (INTEGER or DISCRETE), `dropout`,
`optimizer` (CATEGORICAL). Each trial exports its snapshot to `{jobDir}/{trialId}/model/`.

Snapshot: `{job_dir}/model/` gets model.json and variables.safetensors, written locally and
uploaded, model.json last. Its metadata holds the estimator's own keys (head, n_classes,
label_vocabulary, feature_columns, inputs) and
    trainer        "jobs.builtin.dnn" or "jobs.builtin.linear"
    columns        [{"name", "type": "numeric" | "categorical"}]: file order, label left out
    numeric_input  the input holding the numeric columns (null when there are none)
    label_column   the label's column name
    classes        the class labels as in the data (ints or strings); null for regression
    hyperparameters, eval_metrics: how it was trained and how well it did
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import logging
import math
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine import feature_column as fc
from engine import summary
from engine.estimator import Estimator, RunConfig
from engine.estimator.canned import OPTIMIZERS
from engine.estimator.inputs import numpy_input_fn
from engine.losses import Reduction
from engine.saved_model.format import MODEL_FILE
from storage.config import Settings
from storage.objectstore import InvalidKeyError, ObjectNotFoundError, ObjectStore, StoreConfigError
from storage.stores import open_store

NUMERIC_INPUT = "numeric"  # the snapshot input of the numeric columns (unless a column has it)
DEFAULT_EVALUATIONS = 5  # evaluations over a run when --eval-every-steps is not given
EVAL_BATCH = 8192
MAX_NAME = 256  # a column name becomes a snapshot input name, which has this limit

class UsageError(Exception):
    """Arguments or data the trainer cannot use; the message says what to fix (exit 2)."""


@dataclass(frozen=True)
class Trainer:
    """What differs between the built-in trainers.

    defaults(classification, n_columns, optimizer or None) -> (optimizer, learning rate): the
    ones used where --optimizer / --learning-rate are not given. build(args, columns,
    classification, **kwargs) makes the estimator from the raw feature columns (numeric, and
    categorical ones to wrap as the model needs); kwargs are the common keyword arguments."""

    name: str
    description: str
    defaults_help: str
    defaults: Callable[[bool, int, str | None], tuple[str, float]]
    add_arguments: Callable[[argparse.ArgumentParser], None]
    build: Callable[..., Estimator]


# -- arguments --------------------------------------------------------------------------------
def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def _uris(text: str) -> list[str]:
    uris = [u.strip() for u in text.split(",") if u.strip()]
    if not uris:
        raise argparse.ArgumentTypeError("expected one or more comma-separated URIs")
    return uris


def build_parser(trainer: Trainer) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m jobs.builtin.{trainer.name}", description=trainer.description,
        epilog="Every flag is also accepted with underscores (--max_steps=500).")
    parser.add_argument("--train-files", type=_uris, required=True, metavar="URI[,URI...]",
                        help="CSV (header row) or NPZ files: s3://..., file:///... or paths")
    parser.add_argument("--eval-files", type=_uris, metavar="URI[,URI...]",
                        help="held-out data with the same columns (default: hold out "
                             "--eval-fraction of the training rows)")
    parser.add_argument("--eval-fraction", type=fraction, default=0.2,
                        help="share of training rows held out without --eval-files (0.2)")
    parser.add_argument("--label-column", metavar="NAME",
                        help="the column to predict (NPZ files with x and y arrays: y)")
    parser.add_argument("--model-type", required=True, choices=("classification", "regression"))
    trainer.add_arguments(parser)
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help=trainer.defaults_help)
    parser.add_argument("--learning-rate", type=_positive_float)
    parser.add_argument("--max-steps", type=positive_int, default=1000,
                        help="training steps (batches), default 1000")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="default 64")
    parser.add_argument("--eval-every-steps", type=positive_int, metavar="N",
                        help=f"evaluate every N steps (default: {DEFAULT_EVALUATIONS} times "
                             f"over the run)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds initialization, shuffling and the hold-out split")
    parser.add_argument("--job-dir", required=True, metavar="URI",
                        help="output location; the snapshot goes to {job-dir}/model/")
    return parser


def _dashed(argv: Sequence[str]) -> list[str]:
    """`--max_steps=5` -> `--max-steps=5`: flags may be spelled with underscores."""
    out = []
    for arg in argv:
        if arg.startswith("--") and len(arg) > 2:
            flag, eq, value = arg.partition("=")
            arg = flag.replace("_", "-") + eq + value
        out.append(arg)
    return out


# -- reading data -----------------------------------------------------------------------------
@dataclass
class Table:
    """Columns by name (file order), each a 1-D array: numbers, or text read from CSV."""

    columns: dict[str, np.ndarray]
    default_label: str | None = None  # "y" for NPZ files with x and y arrays

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values())))

    def take(self, index: np.ndarray) -> Table:
        return Table({k: v[index] for k, v in self.columns.items()}, self.default_label)


def store_location(uri: str) -> str:
    """A store URI for `uri`, which may also be a local path."""
    if "://" in uri:
        return uri.rstrip("/")
    return f"file://{Path(uri).expanduser().resolve()}"


def _read(uri: str, settings: Settings, flag: str) -> bytes:
    location = store_location(uri)
    parent, _, name = location.rpartition("/")
    if parent.endswith("://"):  # file:///data.csv: the file system's root
        parent += "/"
    try:
        return open_store(parent, settings).read_bytes(name)
    except ObjectNotFoundError:
        raise UsageError(f"{flag}: {location} does not exist") from None
    except (StoreConfigError, InvalidKeyError, IsADirectoryError) as exc:
        raise UsageError(f"{flag}: cannot read {location}: {exc}") from None


def read_table(uris: list[str], settings: Settings, flag: str) -> Table:
    """The rows of all files, which must have the same columns."""
    tables = [_parse(uri, _read(uri, settings, flag), f"{flag} {uri}") for uri in uris]
    first = tables[0]
    for uri, table in zip(uris[1:], tables[1:], strict=True):
        if set(table.columns) != set(first.columns):
            raise UsageError(f"{flag} {uri}: its columns {list(table.columns)} differ from "
                             f"those of {uris[0]}: {list(first.columns)}")
    if len(tables) == 1:
        return first
    columns = {}
    for name in first.columns:
        parts = [t.columns[name] for t in tables]
        if any(p.dtype.kind not in "biuf" for p in parts):  # text in any file: all text
            parts = [p.astype(str) for p in parts]
        columns[name] = np.concatenate(parts)
    return Table(columns, first.default_label)


def _parse(uri: str, data: bytes, where: str) -> Table:
    name = uri.rsplit("/", 1)[-1].lower()
    if name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise UsageError(f"{where}: not a readable gzip file ({exc})") from None
        name = name[:-3]
    return _parse_npz(data, where) if name.endswith(".npz") else _parse_csv(data, where)


def _parse_csv(data: bytes, where: str) -> Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where}: CSV files must be UTF-8 text ({exc})") from None
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    rows: list[list[str]] = []
    try:
        for row in reader:
            if not row:
                continue
            if header is None:
                header = [cell.strip() for cell in row]
            elif len(row) != len(header):
                raise UsageError(f"{where} line {reader.line_num}: {len(row)} fields, but the "
                                 f"header has {len(header)}")
            else:
                rows.append(row)
    except csv.Error as exc:
        raise UsageError(f"{where} line {reader.line_num}: {exc}") from None
    if header is None:
        raise UsageError(f"{where}: the file is empty; expected a header row, then data rows")
    _check_names(header, where)
    if not rows:
        raise UsageError(f"{where}: no data rows after the header")
    cells = np.char.strip(np.array(rows, dtype=str))
    return Table({name: cells[:, j] for j, name in enumerate(header)})


def _parse_npz(data: bytes, where: str) -> Table:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise UsageError(f"{where}: not a readable .npz file ({exc})") from None
    if not arrays:
        raise UsageError(f"{where}: the .npz file holds no arrays")
    default_label = None
    if "x" in arrays and set(arrays) <= {"x", "y"}:
        x = arrays.pop("x")
        if x.ndim == 0:
            raise UsageError(f"{where}: array x must hold one example per row, got a scalar")
        x = x.reshape(len(x), -1)
        columns = {f"x{j}": x[:, j] for j in range(x.shape[1])}
        if "y" in arrays:
            columns["y"] = arrays["y"]
            default_label = "y"
    else:
        columns = arrays
    for name, values in columns.items():
        if values.ndim == 2 and values.shape[1] == 1:
            columns[name] = values = values[:, 0]
        if values.ndim != 1:
            raise UsageError(f"{where}: array {name!r} has shape {list(values.shape)}; columns "
                             f"must be 1-D (or use arrays x and y)")
        if values.dtype.kind not in "biufUS":
            raise UsageError(f"{where}: array {name!r} has dtype {values.dtype}; columns hold "
                             f"numbers or strings")
        if values.dtype.kind == "S":
            columns[name] = values.astype(str)
    by_length: dict[int, list[str]] = {}
    for name, values in columns.items():
        by_length.setdefault(len(values), []).append(name)
    if len(by_length) > 1:
        shown = "; ".join(f"{', '.join(names[:3])}{', ...' if len(names) > 3 else ''}: {n}"
                          for n, names in by_length.items())
        raise UsageError(f"{where}: arrays must have the same length, got lengths {shown}")
    if 0 in by_length:
        raise UsageError(f"{where}: the arrays hold no rows")
    _check_names(list(columns), where)
    return Table(columns, default_label)


def _check_names(names: list[str], where: str) -> None:
    seen = set()
    for i, name in enumerate(names):
        if not name:
            raise UsageError(f"{where}: column {i + 1} has no name in the header")
        if len(name) > MAX_NAME or any(ord(c) < 32 or c == "\x7f" for c in name):
            raise UsageError(f"{where}: column name {name[:40]!r} is too long or holds control "
                             f"characters")
        if name in seen:
            raise UsageError(f"{where}: column {name!r} appears twice")
        seen.add(name)


# -- features and labels ----------------------------------------------------------------------
def _numbers(values: np.ndarray, what: str) -> np.ndarray:
    """`values` as finite float64, or a UsageError naming the first row that is not."""
    if values.dtype.kind in "biuf":
        array = values.astype(np.float64)
    else:
        try:
            array = values.astype(np.float64)
        except ValueError:
            i, bad = next((i, v) for i, v in enumerate(values.tolist()) if not _is_number(v))
            raise UsageError(f"{what}: row {i + 1} holds {bad!r}, which is not a number") \
                from None
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise UsageError(f"{what}: row {bad[0] + 1} holds {values[bad[0]].item()!r}; values "
                         f"must be finite numbers")
    return array


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_numeric(values: np.ndarray, what: str) -> bool:
    """Whether a training column is numeric. Numbers with gaps are an error, not text."""
    if values.dtype.kind in "biuf":
        _numbers(values, what)
        return True
    present = values != ""
    try:
        values[present].astype(np.float64)
    except ValueError:
        return False
    if not present.any():
        raise UsageError(f"{what}: the column is empty")
    _numbers(values, f"{what} (a numeric column; fill in missing values or drop the rows)")
    return True


@dataclass(frozen=True)
class Features:
    """The feature columns (file order) and how they become the estimator's inputs."""

    names: list[str]
    numeric: list[str]
    vocabularies: dict[str, tuple[str, ...]]  # categorical column -> its training values
    numeric_key: str
    mean: np.ndarray
    scale: np.ndarray  # 1 / standard deviation (1 where that is 0)

    @classmethod
    def from_training(cls, table: Table, label: str) -> Features:
        names = [n for n in table.columns if n != label]
        if not names:
            raise UsageError(f"the data has no feature columns besides the label {label!r}")
        numeric = [n for n in names
                   if _is_numeric(table.columns[n], f"--train-files: column {n!r}")]
        vocabularies = {n: tuple(sorted(set(table.columns[n].tolist())))
                        for n in names if n not in numeric}
        key = NUMERIC_INPUT
        while key in vocabularies:
            key += "_"
        matrix = cls._matrix(table, numeric, "--train-files")
        std = matrix.std(axis=0)
        return cls(names, numeric, vocabularies, key, matrix.mean(axis=0).astype(np.float32),
                   (1.0 / np.where(std > 0, std, 1.0)).astype(np.float32))

    @staticmethod
    def _matrix(table: Table, numeric: list[str], where: str) -> np.ndarray:
        columns = [_numbers(table.columns[n], f"{where}: column {n!r}") for n in numeric]
        return np.stack(columns, axis=1) if columns else np.zeros((table.rows, 0))

    def arrays(self, table: Table, where: str) -> dict[str, np.ndarray]:
        """The estimator's features for `table`'s rows."""
        missing = [n for n in self.names if n not in table.columns]
        if missing:
            raise UsageError(f"{where} lacks the column(s) {missing} of the training data")
        out = {n: table.columns[n].astype(str) for n in self.vocabularies}
        if self.numeric:
            out[self.numeric_key] = self._matrix(table, self.numeric, where).astype(np.float32)
        return out

    def columns(self) -> list[fc.FeatureColumn]:
        """The standardized numeric block, then the raw categorical columns."""
        mean, scale = self.mean, self.scale
        out: list[fc.FeatureColumn] = []
        if self.numeric:
            out.append(fc.numeric_column(self.numeric_key, shape=(len(self.numeric),),
                                         normalizer_fn=lambda t: (t - mean) * scale))
        out.extend(fc.categorical_column_with_vocabulary_list(n, v)
                   for n, v in self.vocabularies.items())
        return out

    def metadata(self) -> dict[str, Any]:
        return {"columns": [{"name": n, "type": "categorical" if n in self.vocabularies
                             else "numeric"} for n in self.names],
                "numeric_input": self.numeric_key if self.numeric else None}

    def describe(self) -> str:
        return (f"{len(self.names)} feature columns ({len(self.numeric)} numeric, "
                f"{len(self.vocabularies)} categorical)")


@dataclass(frozen=True)
class Labels:
    """The label column; `classes` (sorted, as in the data) for classification, else None."""

    column: str
    classes: list[Any] | None = None

    @classmethod
    def from_data(cls, column: str, classification: bool, tables: list[tuple[Table, str]]
                  ) -> Labels:
        if not classification:
            return cls(column)
        values: set[Any] = set()
        for table, where in tables:
            values.update(cls._class_values(table.columns[column], f"{where}: label column "
                                                                   f"{column!r}"))
        if len({type(v) for v in values}) > 1:
            raise UsageError(f"label column {column!r} holds integers in some files and text "
                             f"in others; use one kind of class label")
        if len(values) < 2:
            raise UsageError(f"label column {column!r} holds a single class {sorted(values)}; "
                             f"classification needs at least two")
        return cls(column, sorted(values))

    @staticmethod
    def _class_values(values: np.ndarray, what: str) -> list[Any]:
        """Distinct labels: ints when every label is an integer, else strings."""
        if _is_numeric(values, what):
            numbers = _numbers(values, what)
            if not np.all(numbers == np.round(numbers)):
                raise UsageError(f"{what} holds non-integer numbers such as "
                                 f"{numbers[numbers != np.round(numbers)][0]}; classes are "
                                 f"integers or strings (use --model-type regression to "
                                 f"predict numbers)")
            return [int(v) for v in np.unique(numbers)]
        return sorted(set(values.tolist()))

    def encode(self, table: Table, where: str) -> np.ndarray:
        """What the estimator is fed: class names (as its label_vocabulary), or numbers."""
        if self.column not in table.columns:
            raise UsageError(f"{where} lacks the label column {self.column!r}")
        what = f"{where}: label column {self.column!r}"
        values = table.columns[self.column]
        if self.classes is None:
            try:
                return _numbers(values, what).astype(np.float32)
            except UsageError as exc:
                raise UsageError(f"{exc} (regression needs numeric labels)") from None
        if isinstance(self.classes[0], int):
            return _numbers(values, what).astype(np.int64).astype(str)
        return values.astype(str)

    @property
    def vocabulary(self) -> list[str]:
        return [str(c) for c in self.classes or ()]

    def describe(self) -> str:
        if self.classes is None:
            return f"label {self.column!r} (regression)"
        shown = ", ".join(map(repr, self.classes[:10])) + (", ..." if len(self.classes) > 10
                                                           else "")
        return f"label {self.column!r}: {len(self.classes)} classes [{shown}]"


# -- metrics ----------------------------------------------------------------------------------
class MetricsForwarder:
    """Copies the estimator's new summary lines to the job's metrics file, re-tagged:
    'eval/<tag>' -> '<tag>', any other tag -> 'train/<tag>'."""

    def __init__(self, model_dir: str, target: str | None) -> None:
        self._source = Path(model_dir) / summary.METRICS_FILENAME
        self._target = target
        self._offset = 0
        self.latest: dict[str, float] = {}

    def forward(self) -> None:
        with open(self._source, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        complete = data[:data.rfind(b"\n") + 1]
        self._offset += len(complete)
        lines = []
        for line in complete.splitlines():
            record = json.loads(line)
            tag = record["tag"]
            record["tag"] = tag.removeprefix("eval/") if tag.startswith("eval/") \
                else f"train/{tag}"
            self.latest[record["tag"]] = record["value"]
            lines.append(json.dumps(record) + "\n")
        if self._target and lines:
            with open(self._target, "a", encoding="utf-8") as f:
                f.write("".join(lines))


# -- the run ----------------------------------------------------------------------------------
def _label_column(args: argparse.Namespace, table: Table) -> str:
    label = args.label_column or table.default_label
    if label is None:
        raise UsageError("--label-column is required: name the column to predict (one of "
                         f"{_names(table)})")
    if label not in table.columns:
        raise UsageError(f"--label-column {label!r} is not a column of the training data; "
                         f"it has {_names(table)}")
    return label


def _names(table: Table) -> str:
    names = list(table.columns)
    return ", ".join(map(repr, names[:20])) + (f", ... ({len(names)} columns)"
                                               if len(names) > 20 else "")


def _split(table: Table, fraction_held_out: float, seed: int) -> tuple[Table, Table]:
    n = table.rows
    held_out = round(n * fraction_held_out)
    if held_out < 1 or held_out >= n:
        raise UsageError(f"cannot hold out {fraction_held_out:g} of {n} training rows for "
                         f"evaluation; pass --eval-files or another --eval-fraction")
    order = np.random.default_rng(seed).permutation(n)
    return table.take(order[held_out:]), table.take(order[:held_out])


def _job_store(job_dir: str, settings: Settings) -> ObjectStore:
    try:
        return open_store(store_location(job_dir), settings)
    except (StoreConfigError, InvalidKeyError) as exc:
        raise UsageError(f"--job-dir: {exc}") from None


def run(trainer: Trainer, args: argparse.Namespace, settings: Settings,
        metrics_file: str | None) -> dict[str, float]:
    """Read the data, train and evaluate, export the snapshot; the final eval metrics."""
    started = time.perf_counter()
    job = _job_store(args.job_dir, settings)
    train = read_table(args.train_files, settings, "--train-files")
    label = _label_column(args, train)
    if args.eval_files:
        evaluation = read_table(args.eval_files, settings, "--eval-files")
        eval_where = "--eval-files"
    else:
        train, evaluation = _split(train, args.eval_fraction, args.seed)
        eval_where = "held-out training rows"
    classification = args.model_type == "classification"
    features = Features.from_training(train, label)
    labels = Labels.from_data(label, classification, [(train, "--train-files"),
                                                      (evaluation, eval_where)])
    train_x, train_y = features.arrays(train, "--train-files"), labels.encode(train,
                                                                              "--train-files")
    eval_x, eval_y = features.arrays(evaluation, eval_where), labels.encode(evaluation,
                                                                           eval_where)
    print(f"Data: {train.rows} training rows, {evaluation.rows} evaluation rows "
          f"({eval_where}); {features.describe()}; {labels.describe()}.", flush=True)

    with tempfile.TemporaryDirectory(prefix="kumo-train-") as tmp:
        model_dir = os.path.join(tmp, "model_dir")
        optimizer, default_rate = trainer.defaults(classification, len(features.names),
                                                   args.optimizer)
        args.optimizer, args.learning_rate = optimizer, args.learning_rate or default_rate
        kwargs: dict[str, Any] = {
            "model_dir": model_dir, "loss_reduction": Reduction.SUM_OVER_BATCH_SIZE,
            "config": RunConfig(tf_random_seed=args.seed),
            "optimizer": lambda: OPTIMIZERS[optimizer](args.learning_rate)}
        if classification:
            kwargs.update(n_classes=len(labels.classes or ()),
                          label_vocabulary=labels.vocabulary)
        else:  # the network learns standardized targets, whatever their units
            kwargs.update(label_mean=float(np.mean(train_y)),
                          label_scale=float(np.std(train_y)) or 1.0)
        estimator = trainer.build(args, features.columns(), classification, **kwargs)
        print(f"Model: {type(estimator).__name__}, {args.optimizer} optimizer, learning rate "
              f"{args.learning_rate:g}, batch size {args.batch_size}, {args.max_steps} steps.",
              flush=True)
        results = _train_and_evaluate(estimator, args, (train_x, train_y), (eval_x, eval_y),
                                      MetricsForwarder(model_dir, metrics_file), started)
        metadata = {"trainer": f"jobs.builtin.{trainer.name}", **features.metadata(),
                    "label_column": label, "classes": labels.classes,
                    "hyperparameters": {k: v for k, v in vars(args).items()
                                        if k not in ("train_files", "eval_files", "job_dir")},
                    "eval_metrics": results}
        exported = Path(estimator.export_savedmodel(os.path.join(tmp, "export"),
                                                    metadata=metadata))
        for path in sorted(exported.iterdir(), key=lambda p: p.name == MODEL_FILE):
            job.put_bytes(f"model/{path.name}", path.read_bytes())
    print(f"Exported the model to {job.uri('model')} ({time.perf_counter() - started:.1f} s "
          f"in all).", flush=True)
    return results


def _train_and_evaluate(estimator: Estimator, args: argparse.Namespace,
                        train: tuple[dict[str, np.ndarray], np.ndarray],
                        evaluation: tuple[dict[str, np.ndarray], np.ndarray],
                        metrics: MetricsForwarder, started: float) -> dict[str, float]:
    train_fn = numpy_input_fn(*train, batch_size=args.batch_size, num_epochs=None,
                              shuffle=True, seed=args.seed)
    eval_fn = numpy_input_fn(*evaluation, batch_size=EVAL_BATCH, num_epochs=1, shuffle=False)
    every = args.eval_every_steps or math.ceil(args.max_steps / DEFAULT_EVALUATIONS)
    step = 0
    results: dict[str, float] = {}
    while step < args.max_steps:
        step = min(step + every, args.max_steps)
        estimator.train(train_fn, max_steps=step)
        results = {k: float(v) for k, v in estimator.evaluate(eval_fn).items()
                   if k != "global_step"}
        metrics.forward()
        shown = ", ".join(f"{k} {results[k]:.4g}" for k in ("loss", "accuracy", "rmse")
                          if k in results)
        print(f"Step {step}/{args.max_steps}: training loss {metrics.latest['train/loss']:.4g}; "
              f"evaluation {shown} ({time.perf_counter() - started:.1f} s)", flush=True)
    return results


def main(trainer: Trainer, argv: Sequence[str] | None = None) -> int:
    """Run `trainer` with command-line `argv`; exit status 2 (with a message naming what to
    fix) for unusable arguments or data."""
    parser = build_parser(trainer)
    args = parser.parse_args(_dashed(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="%(message)s")
    # This process forwards the estimator's lines itself (re-tagged): the engine must not.
    metrics_file = os.environ.pop("KUMO_METRICS_FILE", None)
    try:
        run(trainer, args, Settings(), metrics_file)
    except UsageError as exc:
        parser.error(str(exc))
    return 0
