"""Grid, random and Bayesian search: coverage, scale types, reproducibility, types and bounds,
and that the Gaussian process actually beats random search on a known objective."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.tuning.search import Observation, make_searcher
from jobs.tuning.spec import HyperparameterSpec, parse_spec


def spec_of(*params: dict[str, Any], **fields: Any) -> HyperparameterSpec:
    """A spec of `params`; maxTrials 30 unless given (the Bayesian random start scales
    with the budget)."""
    return parse_spec({"maxTrials": 30, "params": list(params), **fields})


BATCH = {"parameterName": "batch", "type": "DISCRETE", "discreteValues": [16, 32, 64]}
OPTIMIZER = {"parameterName": "optimizer", "type": "CATEGORICAL",
             "categoricalValues": ["adam", "sgd", "rmsprop"]}
LAYERS = {"parameterName": "layers", "type": "INTEGER", "minValue": 1, "maxValue": 2}


def branin(p: dict[str, Any]) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


BRANIN = ({"parameterName": "x1", "type": "DOUBLE", "minValue": -5, "maxValue": 10},
          {"parameterName": "x2", "type": "DOUBLE", "minValue": 0, "maxValue": 15})


def run_study(spec: HyperparameterSpec, seed: int, trials: int, objective: Any,
              batch: int = 1) -> list[Observation]:
    searcher = make_searcher(spec, seed)
    completed: list[Observation] = []
    while len(completed) < trials:
        for params in searcher.suggest(completed, [], min(batch, trials - len(completed))):
            completed.append(Observation(params, objective(params)))
    return completed


# -- grid ------------------------------------------------------------------------------------

def test_grid_enumerates_every_combination_once_in_a_fixed_order() -> None:
    spec = spec_of(BATCH, OPTIMIZER, LAYERS, algorithm="GRID_SEARCH")
    searcher = make_searcher(spec, seed=0)
    points = searcher.suggest([], [], 100)
    assert len(points) == 3 * 3 * 2
    assert len({tuple(p.values()) for p in points}) == 18
    assert points[:3] == [{"batch": 16, "optimizer": "adam", "layers": 1},
                          {"batch": 16, "optimizer": "adam", "layers": 2},
                          {"batch": 16, "optimizer": "sgd", "layers": 1}]
    assert make_searcher(spec, seed=7).suggest([], [], 100) == points  # seed plays no part


def test_grid_skips_completed_and_pending_points_until_exhausted() -> None:
    spec = spec_of(BATCH, OPTIMIZER, algorithm="GRID_SEARCH")
    searcher = make_searcher(spec, seed=0)
    everything = searcher.suggest([], [], 9)
    seen: list[dict[str, Any]] = []
    completed: list[Observation] = []
    pending: list[dict[str, Any]] = []
    while batch := searcher.suggest(completed, pending, 2):
        seen.extend(batch)
        # One of each batch finishes (values as CloudML stores them: strings), one keeps going.
        completed.append(Observation({k: str(v) for k, v in batch[0].items()}, 1.0))
        pending.extend(batch[1:])
    assert Counter(map(str, seen)) == Counter(map(str, everything))
    assert searcher.suggest(completed, pending, 5) == []


def test_grid_resumes_after_an_earlier_study() -> None:
    spec = spec_of(BATCH, OPTIMIZER, algorithm="GRID_SEARCH")
    searcher = make_searcher(spec, seed=0)
    first = searcher.suggest([], [], 4)
    rest = searcher.suggest([Observation(p, 0.0) for p in first], [], 100)
    assert first + rest == searcher.suggest([], [], 100)


def test_grid_over_a_long_integer_range_is_lazy() -> None:
    spec = spec_of({"parameterName": "n", "type": "INTEGER", "minValue": 0,
                    "maxValue": 10 ** 12}, algorithm="GRID_SEARCH")
    assert make_searcher(spec, 0).suggest([Observation({"n": 0}, 1.0)], [{"n": 1}], 2) == \
        [{"n": 2}, {"n": 3}]


# -- random ----------------------------------------------------------------------------------

def test_random_log_scale_spreads_over_orders_of_magnitude() -> None:
    spec = spec_of({"parameterName": "lr", "type": "DOUBLE", "minValue": 1e-4, "maxValue": 1.0,
                    "scaleType": "UNIT_LOG_SCALE"}, algorithm="RANDOM_SEARCH")
    draws = np.array([p["lr"] for p in make_searcher(spec, 3).suggest([], [], 400)])
    assert draws.min() >= 1e-4 and draws.max() <= 1.0
    decades = Counter(np.floor(np.log10(draws)).astype(int))
    assert set(decades) == {-4, -3, -2, -1}
    assert min(decades.values()) >= 60  # about 100 in each of the four decades


def test_random_reverse_log_scale_crowds_towards_the_maximum() -> None:
    spec = spec_of({"parameterName": "momentum", "type": "DOUBLE", "minValue": 0.001,
                    "maxValue": 0.999, "scaleType": "UNIT_REVERSE_LOG_SCALE"},
                   algorithm="RANDOM_SEARCH")
    draws = np.array([p["momentum"] for p in make_searcher(spec, 3).suggest([], [], 400)])
    assert draws.min() >= 0.001 and draws.max() <= 0.999
    assert (draws > 0.9).mean() > 0.5
    assert (draws > 0.99).mean() > 0.2


def test_random_linear_integers_are_uniform_including_both_ends() -> None:
    spec = spec_of({"parameterName": "n", "type": "INTEGER", "minValue": 1, "maxValue": 4},
                   algorithm="RANDOM_SEARCH")
    counts = Counter(p["n"] for p in make_searcher(spec, 1).suggest([], [], 2000))
    assert sorted(counts) == [1, 2, 3, 4]
    assert all(400 <= c <= 600 for c in counts.values())


def test_random_log_integers_spread_over_orders_of_magnitude() -> None:
    spec = spec_of({"parameterName": "units", "type": "INTEGER", "minValue": 1,
                    "maxValue": 10000, "scaleType": "UNIT_LOG_SCALE"}, algorithm="RANDOM_SEARCH")
    draws = [p["units"] for p in make_searcher(spec, 2).suggest([], [], 400)]
    assert Counter(len(str(d)) for d in draws).keys() >= {1, 2, 3, 4}


def test_random_is_reproducible_and_depends_only_on_seed_and_history() -> None:
    spec = spec_of(BATCH, OPTIMIZER, *BRANIN, algorithm="RANDOM_SEARCH")
    a, b = make_searcher(spec, 11), make_searcher(spec, 11)
    assert a.suggest([], [], 5) == b.suggest([], [], 5)
    assert a.suggest([], [], 5) != make_searcher(spec, 12).suggest([], [], 5)
    # The same history gives the same proposal whichever searcher object makes it.
    history = [Observation(p, 0.0) for p in a.suggest([], [], 3)]
    assert a.suggest(history, [], 2) == b.suggest(history, [], 2)
    assert a.suggest(history, [], 2) != a.suggest([], [], 2)


# -- Bayesian ----------------------------------------------------------------------------------

def test_bayesian_beats_random_on_branin() -> None:
    trials, seeds = 22, range(3)
    bayes = spec_of(*BRANIN, goal="MINIMIZE")
    rand = spec_of(*BRANIN, goal="MINIMIZE", algorithm="RANDOM_SEARCH")
    best_bayes = [min(o.value for o in run_study(bayes, s, trials, branin)) for s in seeds]
    best_rand = [min(o.value for o in run_study(rand, s, trials, branin)) for s in seeds]
    assert np.median(best_bayes) < 1.0  # the optimum is 0.398
    assert np.median(best_bayes) < np.median(best_rand)
    assert sum(best_bayes) < sum(best_rand)


def test_bayesian_maximises_by_default() -> None:
    spec = spec_of({"parameterName": "x", "type": "DOUBLE", "minValue": -2, "maxValue": 2})
    study = run_study(spec, 0, 14, lambda p: -((p["x"] - 0.7) ** 2))
    best = max(study, key=lambda o: o.value)
    assert abs(best.params["x"] - 0.7) < 0.05


def test_bayesian_batch_proposals_are_distinct_and_spread() -> None:
    spec = spec_of(*BRANIN, goal="MINIMIZE", maxParallelTrials=4)
    history = run_study(spec, 5, 12, branin)
    searcher = make_searcher(spec, 5)
    batch = searcher.suggest(history, [], 4)
    points = np.array([[p["x1"] / 15, p["x2"] / 15] for p in batch])
    gaps = np.linalg.norm(points[:, None] - points[None], axis=-1)[np.triu_indices(4, 1)]
    assert gaps.min() > 0.01
    # Trials still running repel new proposals the same way.
    after = searcher.suggest(history, batch[:2], 1)[0]
    assert after not in batch[:2]
    assert min(abs(after["x1"] - p["x1"]) + abs(after["x2"] - p["x2"]) for p in batch[:2]) > 0.1


def test_bayesian_is_reproducible() -> None:
    spec = spec_of(*BRANIN, OPTIMIZER, goal="MINIMIZE")

    def objective(p: dict[str, Any]) -> float:
        return branin(p) + {"adam": 0.0, "sgd": 5.0, "rmsprop": 10.0}[p["optimizer"]]

    first = run_study(spec, 9, 10, objective, batch=2)
    again = run_study(spec, 9, 10, objective, batch=2)
    assert [o.params for o in first] == [o.params for o in again]
    assert [o.params for o in run_study(spec, 10, 10, objective)] != [o.params for o in first]


def test_bayesian_covers_a_small_finite_space_without_repeats() -> None:
    spec = spec_of(BATCH, OPTIMIZER, goal="MINIMIZE")
    study = run_study(spec, 4, 9, lambda p: p["batch"] / 16 + len(p["optimizer"]), batch=2)
    assert len({(o.params["batch"], o.params["optimizer"]) for o in study}) == 9
    # Exhausted: it still answers (a repeat), as a noisy objective may deserve one.
    assert len(make_searcher(spec, 4).suggest(study, [], 1)) == 1


def test_bayesian_finds_the_best_category_and_integer() -> None:
    spec = spec_of(OPTIMIZER, {"parameterName": "n", "type": "INTEGER", "minValue": 1,
                               "maxValue": 50}, goal="MINIMIZE")
    offsets = {"adam": 3.0, "sgd": 0.0, "rmsprop": 6.0}
    study = run_study(spec, 1, 20, lambda p: offsets[p["optimizer"]] + abs(p["n"] - 37) / 10)
    best = min(study, key=lambda o: o.value)
    assert best.params["optimizer"] == "sgd" and abs(best.params["n"] - 37) <= 2


def test_bayesian_ignores_unusable_observations() -> None:
    spec = spec_of(*BRANIN, goal="MINIMIZE")
    history = run_study(spec, 2, 8, branin)
    noisy = [*history, Observation({"x1": 1.0, "x2": 2.0}, math.nan),
             Observation({"x1": 1.0}, 0.0), Observation({"x1": "a", "x2": 1}, 0.0)]
    proposal = make_searcher(spec, 2).suggest(noisy, [], 1)[0]
    assert -5 <= proposal["x1"] <= 10 and 0 <= proposal["x2"] <= 15


# -- types and bounds, for every algorithm -----------------------------------------------------

@st.composite
def params(draw: st.DrawFn, finite: bool) -> list[dict[str, Any]]:
    out = []
    kinds = ["INTEGER", "DISCRETE", "CATEGORICAL"] + ([] if finite else ["DOUBLE"])
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(kinds))
        param: dict[str, Any] = {"parameterName": f"p{i}", "type": kind}
        scale = draw(st.sampled_from([None, "UNIT_LINEAR_SCALE", "UNIT_LOG_SCALE",
                                      "UNIT_REVERSE_LOG_SCALE"]))
        log = scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
        if kind == "CATEGORICAL":
            param["categoricalValues"] = draw(st.lists(st.text("abcxyz", min_size=1),
                                                       min_size=1, max_size=4, unique=True))
            scale = None
        elif kind == "DISCRETE":
            values = draw(st.lists(st.floats(0.001 if log else -1e3, 1e3) | st.integers(1, 99),
                                   min_size=1, max_size=5, unique=True))
            param["discreteValues"] = sorted(set(values))
        elif kind == "INTEGER":
            low = draw(st.integers(1 if log else -50, 50))
            param.update(minValue=low, maxValue=low + draw(st.integers(1, 1000)))
        else:
            low = draw(st.floats(1e-6 if log else -1e6, 1e3))
            param.update(minValue=low, maxValue=low + draw(st.floats(1e-3, 1e6)))
        if scale:
            param["scaleType"] = scale
        out.append(param)
    return out


def assert_fits(point: dict[str, Any], spec: HyperparameterSpec) -> None:
    assert list(point) == [p.name for p in spec.params]
    for p in spec.params:
        value = point[p.name]
        if p.type == "DOUBLE":
            assert type(value) is float and p.min_value <= value <= p.max_value
        elif p.type == "INTEGER":
            assert type(value) is int and p.min_value <= value <= p.max_value
        elif p.type == "CATEGORICAL":
            assert type(value) is str and value in p.categorical_values
        else:
            assert value in p.discrete_values and type(value) in (int, float)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=params(finite=False), seed=st.integers(0, 2 ** 32 - 1),
       algorithm=st.sampled_from(["RANDOM_SEARCH", "ALGORITHM_UNSPECIFIED"]))
def test_values_respect_types_and_bounds(raw: list[dict[str, Any]], seed: int,
                                         algorithm: str) -> None:
    spec = spec_of(*raw, algorithm=algorithm)
    searcher = make_searcher(spec, seed)
    rng = np.random.default_rng(seed)
    completed: list[Observation] = []
    for _ in range(3):
        batch = searcher.suggest(completed, [], 4)
        assert len(batch) == 4
        for point in batch:
            assert_fits(point, spec)
            completed.append(Observation(point, float(rng.normal())))


@settings(max_examples=40, deadline=None)
@given(raw=params(finite=True))
def test_grid_values_respect_types_and_cover_the_product(raw: list[dict[str, Any]]) -> None:
    spec = spec_of(*raw, algorithm="GRID_SEARCH")
    size = math.prod(len(p.categorical_values or p.discrete_values or ())
                     or p.max_value - p.min_value + 1 for p in spec.params)
    points = make_searcher(spec, 0).suggest([], [], min(size, 500))
    assert len(points) == min(size, 500)
    assert len({tuple(p.values()) for p in points}) == len(points)
    for point in points:
        assert_fits(point, spec)


@pytest.mark.parametrize("algorithm", ["GRID_SEARCH", "RANDOM_SEARCH", "ALGORITHM_UNSPECIFIED"])
def test_no_proposals_asked_none_given(algorithm: str) -> None:
    assert make_searcher(spec_of(BATCH, algorithm=algorithm), 0).suggest([], [], 0) == []
