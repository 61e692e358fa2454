"""Search strategies: which parameter values the next trials get.

`make_searcher(spec, seed)` returns a `Searcher` whose `suggest(completed, pending, n)` is a
pure function of its arguments and the seed: a runner that restarts mid-study, or a study
resumed from an earlier job, gets the same proposals from the same history.

- GRID_SEARCH enumerates the product of every parameter's values in a fixed order (first
  parameter outermost), skipping points already completed or pending.
- RANDOM_SEARCH draws each parameter independently, honouring scale types (log-uniform for
  UNIT_LOG_SCALE, ...); DISCRETE and CATEGORICAL values are drawn uniformly.
- ALGORITHM_UNSPECIFIED is Bayesian optimisation: a Gaussian process (Matern 5/2, one length
  scale per input, fitted by maximising the marginal likelihood under weak priors) on inputs
  warped to [0, 1] by their scale type, categorical values one-hot; expected improvement picks
  the next point, and a batch (or trials still running) is handled by the constant liar, so
  parallel proposals spread out instead of collapsing onto one point.

Parameters live internally as a point `u` of the unit cube, one coordinate per parameter;
`_Space` maps between that cube, the trial values and the GP's features.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from jobs.tuning.spec import HyperparameterSpec, ParameterSpec


@dataclass
class Observation:
    """A finished trial: its parameters and its objective value as reported (the searcher
    applies the study's goal). Non-finite values are ignored by the searchers."""

    params: dict[str, Any]
    value: float


class Searcher(Protocol):
    def suggest(self, completed: Sequence[Observation], pending: Sequence[Mapping[str, Any]],
                n: int) -> list[dict[str, Any]]:
        """Up to `n` new parameter dicts, given finished trials and those still running."""
        ...


def make_searcher(spec: HyperparameterSpec, seed: int) -> Searcher:
    if spec.algorithm == "GRID_SEARCH":
        return GridSearcher(spec)
    if spec.algorithm == "RANDOM_SEARCH":
        return RandomSearcher(spec, seed)
    return BayesianSearcher(spec, seed)


class _Space:
    """The unit cube behind a spec. Each parameter owns one coordinate u in [0, 1]:
    DOUBLE and INTEGER map u through their scale type (INTEGER over [min - 0.5, max + 0.5],
    then rounded, so every integer gets its share); DISCRETE and CATEGORICAL cut [0, 1] into
    equal cells, one per value. The GP sees a DOUBLE/INTEGER/DISCRETE value warped to [0, 1]
    by its scale type and a CATEGORICAL value one-hot."""

    def __init__(self, params: Sequence[ParameterSpec]) -> None:
        self.params = tuple(params)
        self.dims = len(self.params)
        self.n_features = sum(len(p.categorical_values) if p.type == "CATEGORICAL" else 1
                              for p in self.params)

    def decode(self, u: np.ndarray) -> dict[str, Any]:
        """Trial values for one point of the cube, typed: int, float, str or a listed number."""
        return {p.name: _decode(p, float(x)) for p, x in zip(self.params, u, strict=True)}

    def encode(self, values: Mapping[str, Any]) -> np.ndarray | None:
        """The cube point of a trial's values (which may arrive as strings, as CloudML
        reports them), or None when they do not fit this spec (a resumed study whose spec
        changed)."""
        try:
            return np.array([_encode(p, values[p.name]) for p in self.params])
        except (KeyError, TypeError, ValueError):
            return None

    def snap(self, u: np.ndarray) -> np.ndarray:
        """Points moved to the cube point of the values they decode to (integers rounded,
        cells centred), so that the GP scores exactly what a trial would run."""
        out = np.clip(u, 0.0, 1.0)
        for j, p in enumerate(self.params):
            if p.type == "INTEGER":
                low, high = p.min_value - 0.5, p.max_value + 0.5
                x = np.clip(np.round(_unwarp(p.scale_type, out[:, j], low, high)),
                            p.min_value, p.max_value)
                out[:, j] = _warp(p.scale_type, x, low, high)
            elif p.type in ("DISCRETE", "CATEGORICAL"):
                k = _count(p)
                out[:, j] = (np.minimum(np.floor(out[:, j] * k), k - 1) + 0.5) / k
        return out

    def features(self, u: np.ndarray) -> np.ndarray:
        """GP inputs for snapped cube points."""
        columns = []
        for j, p in enumerate(self.params):
            if p.type == "CATEGORICAL":
                k = _count(p)
                index = np.minimum(np.floor(u[:, j] * k), k - 1).astype(int)
                columns.append(np.eye(k)[index])
            elif p.type == "DISCRETE":
                values = np.asarray(p.discrete_values, dtype=float)
                if len(values) == 1:
                    columns.append(np.zeros((len(u), 1)))
                    continue
                index = np.minimum(np.floor(u[:, j] * len(values)), len(values) - 1)
                warped = _warp(p.scale_type, values, values[0], values[-1])
                columns.append(warped[index.astype(int)][:, None])
            else:
                columns.append(u[:, j:j + 1])
        return np.hstack(columns)

    def key(self, values: Mapping[str, Any]) -> bytes | None:
        """A hashable identity of a point, the same for `32`, `32.0` and `"32"`."""
        u = self.encode(values)
        return None if u is None else _row_key(self.snap(u[None, :])[0])


def _count(p: ParameterSpec) -> int:
    return len(p.categorical_values or p.discrete_values or ())


def _warp(scale: str | None, x: np.ndarray | float, low: float, high: float) -> Any:
    """x in [low, high] to [0, 1] by scale type (inverse of `_unwarp`)."""
    if scale == "UNIT_LOG_SCALE":
        return (np.log(x) - math.log(low)) / (math.log(high) - math.log(low))
    if scale == "UNIT_REVERSE_LOG_SCALE":
        return 1.0 - (np.log(low + high - x) - math.log(low)) / (math.log(high) - math.log(low))
    return (x - low) / (high - low)


def _unwarp(scale: str | None, u: np.ndarray | float, low: float, high: float) -> Any:
    """u in [0, 1] to [low, high]: uniform, log-uniform, or dense near `high` (reverse log)."""
    if scale == "UNIT_LOG_SCALE":
        return np.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    if scale == "UNIT_REVERSE_LOG_SCALE":
        return low + high - np.exp(math.log(low) + (1.0 - u) * (math.log(high) - math.log(low)))
    return low + u * (high - low)


def _decode(p: ParameterSpec, u: float) -> Any:
    if p.type == "DOUBLE":
        return float(min(max(_unwarp(p.scale_type, u, p.min_value, p.max_value), p.min_value),
                         p.max_value))
    if p.type == "INTEGER":
        x = round(float(_unwarp(p.scale_type, u, p.min_value - 0.5, p.max_value + 0.5)))
        return int(min(max(x, p.min_value), p.max_value))
    values = p.categorical_values or p.discrete_values
    return values[min(int(u * len(values)), len(values) - 1)]


def _encode(p: ParameterSpec, value: Any) -> float:
    if p.type == "CATEGORICAL":
        return (p.categorical_values.index(str(value)) + 0.5) / len(p.categorical_values)
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(value)
    if p.type == "DISCRETE":
        values = np.asarray(p.discrete_values, dtype=float)
        return (int(np.argmin(np.abs(values - x))) + 0.5) / len(values)
    low, high = p.min_value, p.max_value
    x = min(max(x, low), high)
    if p.type == "INTEGER":
        low, high, x = low - 0.5, high + 0.5, round(x)
    return float(_warp(p.scale_type, x, low, high))


class GridSearcher:
    """Every combination exactly once, first parameter outermost, skipping used points."""

    def __init__(self, spec: HyperparameterSpec) -> None:
        self.space = _Space(spec.params)

    def points(self) -> Iterator[dict[str, Any]]:
        """The whole grid in its fixed order (lazily: an INTEGER range may be long)."""
        axes = []
        for p in self.space.params:
            if p.type == "INTEGER":
                axes.append(range(p.min_value, p.max_value + 1))
            else:
                axes.append(p.categorical_values or p.discrete_values)
        names = [p.name for p in self.space.params]
        for combo in _product(axes):
            yield dict(zip(names, combo, strict=True))

    def suggest(self, completed: Sequence[Observation], pending: Sequence[Mapping[str, Any]],
                n: int) -> list[dict[str, Any]]:
        used = {self.space.key(o.params) for o in completed}
        used.update(self.space.key(p) for p in pending)
        return list(itertools.islice((point for point in self.points()
                                      if self.space.key(point) not in used), max(n, 0)))


def _product(axes: Sequence[Sequence[Any]]) -> Iterator[tuple[Any, ...]]:
    """itertools.product without materialising its inputs (a range of 10**12 stays a range)."""
    if not axes:
        yield ()
        return
    for head in axes[0]:
        for rest in _product(axes[1:]):
            yield (head, *rest)


class RandomSearcher:
    """Independent draws; the generator is seeded by (seed, trials so far), so a proposal
    depends only on the seed and how many trials came before it."""

    def __init__(self, spec: HyperparameterSpec, seed: int) -> None:
        self.space = _Space(spec.params)
        self.seed = seed

    def suggest(self, completed: Sequence[Observation], pending: Sequence[Mapping[str, Any]],
                n: int) -> list[dict[str, Any]]:
        rng = np.random.default_rng([self.seed, len(completed) + len(pending)])
        return [self.space.decode(u) for u in rng.random((max(n, 0), self.space.dims))]


class BayesianSearcher:
    """GP + expected improvement after a Latin-hypercube start of `n_initial` points."""

    CANDIDATES = 2000  # random points scored per proposal before local refinement
    MAX_FIT_POINTS = 256  # beyond this, fit the GP on the best half and a random rest

    def __init__(self, spec: HyperparameterSpec, seed: int) -> None:
        self.space = _Space(spec.params)
        self.seed = seed
        self.sign = -1.0 if spec.goal == "MAXIMIZE" else 1.0  # the GP minimises
        # Enough random points to fit a first model, but leave small budgets room to use it.
        self.n_initial = min(max(self.space.n_features + 1, 5), 10, max(2, spec.max_trials // 3))
        self.design = _latin_hypercube(np.random.default_rng([seed, 0xD5]), self.n_initial,
                                       self.space.dims)

    def suggest(self, completed: Sequence[Observation], pending: Sequence[Mapping[str, Any]],
                n: int) -> list[dict[str, Any]]:
        used = len(completed) + len(pending)
        rng = np.random.default_rng([self.seed, used])
        x, y = self._data(completed)
        busy = [self.space.snap(u[None, :])[0]
                for u in (self.space.encode(p) for p in pending) if u is not None]
        taken = {_row_key(u) for u in x} | {_row_key(u) for u in busy}
        modelled = used >= self.n_initial and len(y) >= 2 and np.ptp(y) > 0
        if modelled:
            fit_x, fit_y = self._fit_subset(x, y, rng)
            z = _tame_outliers(fit_y)
            z = (z - z.mean()) / z.std()
            gp = _GP.fit(self.space.features(fit_x), z, rng)
            best, top = z.min(), x[np.argsort(y)[:5]]
        out: list[dict[str, Any]] = []
        for i in range(max(n, 0)):
            if not modelled:
                u = self.design[used + i] if used + i < self.n_initial else None
                u = self._fresh(u, taken, rng)
            else:
                u = self._propose(gp, top, best, np.array(busy).reshape(-1, self.space.dims),
                                  taken, rng)
            u = self.space.snap(u[None, :])[0]
            busy.append(u)
            taken.add(_row_key(u))
            out.append(self.space.decode(u))
        return out

    def _fresh(self, u: np.ndarray | None, taken: set[bytes],
               rng: np.random.Generator) -> np.ndarray:
        """`u` if given and not taken yet, else a random point not taken yet (in a small
        finite space the design can collide with itself or with a resumed study's points)."""
        for _ in range(100):
            if u is not None and _row_key(self.space.snap(u[None, :])[0]) not in taken:
                return u
            u = rng.random(self.space.dims)
        return u

    def _data(self, completed: Sequence[Observation]) -> tuple[np.ndarray, np.ndarray]:
        """Snapped cube points and objective values (to minimise) of usable observations."""
        xs, ys = [], []
        for o in completed:
            u = self.space.encode(o.params)
            try:
                value = float(o.value)
            except (TypeError, ValueError):
                continue
            if u is not None and math.isfinite(value):
                xs.append(u)
                ys.append(self.sign * value)
        return self.space.snap(np.array(xs).reshape(-1, self.space.dims)), np.array(ys)

    def _fit_subset(self, x: np.ndarray, y: np.ndarray,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """At most MAX_FIT_POINTS observations (the GP costs n^3): the best half and a random
        sample of the rest."""
        if len(y) <= self.MAX_FIT_POINTS:
            return x, y
        order = np.argsort(y)
        half = self.MAX_FIT_POINTS // 2
        keep = np.concatenate([order[:half], rng.choice(order[half:], half, replace=False)])
        return x[keep], y[keep]

    def _propose(self, gp: _GP, top: np.ndarray, best: float, busy: np.ndarray,
                 taken: set[bytes], rng: np.random.Generator) -> np.ndarray:
        """The cube point maximising expected improvement below `best`, among points not yet
        taken (unless all candidates are, as in an exhausted finite space). Points still
        running count as observed at the best value so far (constant liar), so a batch
        spreads out. `top` are the best points so far, around which candidates are denser."""
        if len(busy):
            gp = gp.condition(self.space.features(busy), np.full(len(busy), best))

        def score(u: np.ndarray) -> np.ndarray:
            mean, sd = gp.predict(self.space.features(u))
            values = _log_expected_improvement(best, mean, sd)
            values[[_row_key(row) in taken for row in u]] = -np.inf
            return values

        # Candidates: uniform over the cube, plus a cloud around the best points so far.
        local = top[rng.integers(len(top), size=self.CANDIDATES // 2)]
        local = local + rng.normal(size=local.shape) * rng.choice([0.02, 0.1, 0.3],
                                                                   size=(len(local), 1))
        u = self.space.snap(np.vstack([rng.random((self.CANDIDATES, self.space.dims)), local]))
        values = score(u)
        if np.isneginf(values).all():
            return top[0]
        # Local refinement: shrinking random steps around the five best candidates.
        starts = np.argsort(-values)[:5]
        u, values = u[starts], values[starts]
        rows = np.arange(len(u))
        for step in (0.05, 0.02, 0.01, 0.005, 0.002):
            for _ in range(3):
                trial = self.space.snap(
                    np.repeat(u, 20, axis=0) + rng.normal(size=(len(u) * 20, u.shape[1])) * step)
                trial_values = score(trial).reshape(len(u), 20)
                pick = trial_values.argmax(axis=1)
                better = trial_values[rows, pick] > values
                u[better] = trial.reshape(len(u), 20, -1)[rows, pick][better]
                values[better] = trial_values[rows, pick][better]
        return u[np.argmax(values)]


def _row_key(u: np.ndarray) -> bytes:
    """Identity of one snapped cube point (snapping maps equal trial values to equal floats)."""
    return (u + 0.0).tobytes()  # + 0.0 turns -0.0 into 0.0


def _tame_outliers(y: np.ndarray) -> np.ndarray:
    """Values to minimise with the bad tail compressed logarithmically beyond one spread of
    the good half above the median: a diverged trial (loss 1e9) must not flatten every
    other difference once standardised. Monotone, so the ranking is kept."""
    median = np.median(y)
    spread = median - y.min()
    if spread <= 0:
        return y
    r = np.maximum((y - median) / spread, 1.0)
    return np.where(r > 1.0, median + spread * (1.0 + np.log(r)), y)


def _latin_hypercube(rng: np.random.Generator, n: int, dims: int) -> np.ndarray:
    """n points, one in each of n equal slices of every axis, in random order."""
    cells = np.argsort(rng.random((n, dims)), axis=0)
    return (cells + rng.random((n, dims))) / n


_SQRT5 = math.sqrt(5.0)


class _GP:
    """Zero-mean GP on standardised targets with a Matern 5/2 ARD kernel and Gaussian noise.
    theta = [log length scales..., log signal variance, log noise variance]."""

    # Weak priors (MAP instead of pure ML) keep the fit sane with a handful of points.
    LENGTH_PRIOR = (math.log(0.5), 1.0)  # log-normal mean, sd of each length scale
    LOW = np.log([0.01, 0.05, 1e-6])  # bounds: length scale, signal var, noise var
    HIGH = np.log([20.0, 20.0, 0.5])
    STARTS = 4  # optimised together as one batch
    STEPS = 50

    def __init__(self, x: np.ndarray, y: np.ndarray, theta: np.ndarray) -> None:
        self.x, self.y, self.theta = x, y, theta
        d = x.shape[1]
        self.lengths = np.exp(theta[:d])
        self.signal, self.noise = math.exp(theta[d]), math.exp(theta[d + 1])
        k = self._kernel(x, x) + (self.noise + 1e-9) * np.eye(len(x))
        self.chol = np.linalg.cholesky(k)
        self.chol_inv = np.linalg.inv(self.chol)
        self.alpha = self.chol_inv.T @ (self.chol_inv @ y)

    def _kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = a / self.lengths, b / self.lengths
        sq = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2.0 * a @ b.T
        r = np.sqrt(np.maximum(sq, 0.0))
        return self.signal * (1.0 + _SQRT5 * r + 5.0 / 3.0 * r ** 2) * np.exp(-_SQRT5 * r)

    def predict(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function at xs."""
        k = self._kernel(xs, self.x)
        mean = k @ self.alpha
        v = k @ self.chol_inv.T
        var = np.maximum(self.signal - (v ** 2).sum(1), 1e-12)
        return mean, np.sqrt(var)

    def condition(self, xs: np.ndarray, ys: np.ndarray) -> _GP:
        """The same kernel with extra (fantasy) observations."""
        return _GP(np.vstack([self.x, xs]), np.concatenate([self.y, ys]), self.theta)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> _GP:
        """Maximise log marginal likelihood + log prior by Adam on theta, from the prior's
        centre and a few random starts optimised side by side as one batch."""
        d = x.shape[1]
        low = np.concatenate([np.full(d, cls.LOW[0]), cls.LOW[1:]])
        high = np.concatenate([np.full(d, cls.HIGH[0]), cls.HIGH[1:]])
        starts = np.concatenate([
            cls.LENGTH_PRIOR[0] + rng.normal(size=(cls.STARTS, d)) * cls.LENGTH_PRIOR[1],
            rng.normal(size=(cls.STARTS, 1)) * 0.5,
            rng.uniform(-10.0, -2.0, size=(cls.STARTS, 1))], axis=1)
        starts[0] = np.concatenate([np.full(d, cls.LENGTH_PRIOR[0]), [0.0, math.log(1e-2)]])
        sq = ((x[:, None, :] - x[None, :, :]) ** 2).reshape(-1, d)
        theta = _adam(lambda t: _objective(t, sq, y, cls.LENGTH_PRIOR),
                      np.clip(starts, low, high), low, high, cls.STEPS)
        return cls(x, y, theta)


def _objective(theta: np.ndarray, sq: np.ndarray, y: np.ndarray,
               length_prior: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Log marginal likelihood plus log prior, and its gradient, for each row of theta."""
    n, d = len(y), sq.shape[1]
    lengths = np.exp(theta[:, :d])
    signal, noise = np.exp(theta[:, d]), np.exp(theta[:, d + 1])
    inv_sq_lengths = lengths ** -2.0
    r = np.sqrt(inv_sq_lengths @ sq.T).reshape(-1, n, n)  # sq: (n * n, d) squared differences
    e = np.exp(-_SQRT5 * r)
    k = signal[:, None, None] * (1.0 + _SQRT5 * r + 5.0 / 3.0 * r ** 2) * e
    eye = np.eye(n)
    chol = np.linalg.cholesky(k + (noise[:, None, None] + 1e-9) * eye)
    chol_inv = np.linalg.inv(chol)
    k_inv = np.swapaxes(chol_inv, 1, 2) @ chol_inv
    alpha = k_inv @ y
    value = -0.5 * alpha @ y - np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(1)
    w = alpha[:, :, None] * alpha[:, None, :] - k_inv
    grad = np.empty_like(theta)
    # dK/dlog(l_d) = signal * 5/3 * (1 + sqrt5 r) e^{-sqrt5 r} * (x_d - x'_d)^2 / l_d^2
    g = w * (signal[:, None, None] * 5.0 / 3.0 * (1.0 + _SQRT5 * r) * e)
    grad[:, :d] = 0.5 * (g.reshape(len(theta), -1) @ sq) * inv_sq_lengths
    grad[:, d] = 0.5 * (w * k).sum((1, 2))
    grad[:, d + 1] = 0.5 * noise * np.trace(w, axis1=1, axis2=2)
    mean, sd = length_prior
    value -= 0.5 * (((theta[:, :d] - mean) / sd) ** 2).sum(1) + 0.5 * theta[:, d] ** 2
    grad[:, :d] -= (theta[:, :d] - mean) / sd ** 2
    grad[:, d] -= theta[:, d]
    return value, grad


def _adam(objective: Any, theta: np.ndarray, low: np.ndarray, high: np.ndarray,
          steps: int, rate: float = 0.15) -> np.ndarray:
    """Projected Adam ascent of a batch of starts; the best row seen over all steps."""
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    best, best_value = theta[0], -math.inf
    for t in range(1, steps + 1):
        try:
            value, grad = objective(theta)
        except np.linalg.LinAlgError:  # a start wandered somewhere singular: keep the best
            break
        i = int(np.argmax(value))
        if value[i] > best_value:
            best, best_value = theta[i], value[i]
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad ** 2
        step = rate * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        theta = np.clip(theta + step, low, high)
    return best


def _log_expected_improvement(best: float, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """log EI for minimisation, accurate far into the tail where EI itself underflows (late in
    a study most candidates sit there, and their order still matters)."""
    z = (best - mean) / sd
    out = np.empty_like(z)
    near = z > -10.0
    zn = z[near]
    cdf = 0.5 * _ERFC(-zn / math.sqrt(2.0)).astype(float)
    pdf = np.exp(-0.5 * zn ** 2) / math.sqrt(2.0 * math.pi)
    out[near] = np.log(np.maximum(pdf + zn * cdf, 1e-300))
    zf = z[~near]
    # Mills-ratio series: phi(z) + z Phi(z) = phi(z) (1/z^2 - 3/z^4 + 15/z^6 - ...).
    out[~near] = (-0.5 * zf ** 2 - 0.5 * math.log(2.0 * math.pi)
                  + np.log(zf ** -2 - 3.0 * zf ** -4 + 15.0 * zf ** -6))
    return out + np.log(sd)


_ERFC = np.frompyfunc(math.erfc, 1, 1)  # numpy has no erfc; EI needs its relative accuracy
