"""Search quality of kumo's hyperparameter tuning: Bayesian search (GP + expected improvement)
against random search and Optuna's TPE sampler, in one run, on two cheap known objectives from
the hyperparameter-tuning literature, minimised:

- Branin on [-5, 10] x [0, 15] (optimum 0.397887),
- Hartmann-6 on [0, 1]^6 (optimum -3.32237).

Each searcher runs `--trials` sequential trials for each of `--seeds` seeds; the table shows
the median over seeds of the best value found after 15, 30 and 50 trials, and the regret ratio
(best found minus optimum) of kumo over TPE at 30 trials. Target: at most 1 on both objectives,
aim 0.5. Then the platform overhead of a real study (bench/tuning_overhead.py, its defaults:
20 trials of a tiny trainer, 4 in parallel, against the same trials run by hand).

    python bench/tuning.py [--seeds 20] [--trials 50] [--workers N] [--no-overhead]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import limit_threads
from bench.tuning_overhead import measure as measure_overhead
from jobs.tuning.search import Observation, make_searcher
from jobs.tuning.spec import parse_spec

CHECKPOINTS = (15, 30, 50)


def branin(p: dict[str, float]) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                 [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])


def hartmann6(p: dict[str, float]) -> float:
    x = np.array([p[f"x{i}"] for i in range(1, 7)])
    return float(-_H_ALPHA @ np.exp(-(_H_A * (x - _H_P) ** 2).sum(1)))


# name: (function, optimum, bounds of each parameter)
OBJECTIVES: dict[str, tuple[Callable[[dict[str, float]], float], float,
                            dict[str, tuple[float, float]]]] = {
    "Branin": (branin, 0.397887, {"x1": (-5.0, 10.0), "x2": (0.0, 15.0)}),
    "Hartmann-6": (hartmann6, -3.32237, {f"x{i}": (0.0, 1.0) for i in range(1, 7)}),
}


def run_kumo(objective: str, algorithm: str, seed: int, trials: int) -> list[float]:
    """Best-so-far after each trial of one sequential kumo study."""
    function, _, bounds = OBJECTIVES[objective]
    spec = parse_spec({"goal": "MINIMIZE", "maxTrials": trials, "algorithm": algorithm,
                       "params": [{"parameterName": name, "type": "DOUBLE", "minValue": low,
                                   "maxValue": high} for name, (low, high) in bounds.items()]})
    searcher = make_searcher(spec, seed)
    completed: list[Observation] = []
    for _ in range(trials):
        params = searcher.suggest(completed, [], 1)[0]
        completed.append(Observation(params, function(params)))
    return list(np.minimum.accumulate([o.value for o in completed]))


def run_tpe(objective: str, seed: int, trials: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    function, _, bounds = OBJECTIVES[objective]
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(lambda trial: function({name: trial.suggest_float(name, low, high)
                                           for name, (low, high) in bounds.items()}),
                   n_trials=trials)
    return list(np.minimum.accumulate([t.value for t in study.trials]))


def run_one(job: tuple[str, str, int, int]) -> tuple[str, str, list[float], float]:
    limiter = limit_threads()  # noqa: F841  (kept alive for the duration of the run)
    method, objective, seed, trials = job
    start = time.perf_counter()
    if method == "TPE":
        curve = run_tpe(objective, seed, trials)
    else:
        curve = run_kumo(objective, {"kumo": "ALGORITHM_UNSPECIFIED",
                                     "random": "RANDOM_SEARCH"}[method], seed, trials)
    return method, objective, curve, time.perf_counter() - start


def search_quality(seeds: int, trials: int, workers: int) -> None:
    methods = ("kumo", "random", "TPE")
    jobs = [(m, o, s, trials) for o in OBJECTIVES for m in methods for s in range(seeds)]
    curves: dict[tuple[str, str], list[list[float]]] = {}
    seconds: dict[str, float] = dict.fromkeys(methods, 0.0)
    with ProcessPoolExecutor(workers) as pool:
        for method, objective, curve, took in pool.map(run_one, jobs):
            curves.setdefault((method, objective), []).append(curve)
            seconds[method] += took
    checkpoints = [c for c in CHECKPOINTS if c <= trials]
    print(f"median best value over {seeds} seeds (minimising) after "
          f"{' / '.join(map(str, checkpoints))} trials")
    for objective, (_, optimum, _) in OBJECTIVES.items():
        print(f"{objective} (optimum {optimum})")
        medians = {}
        for method in methods:
            medians[method] = [statistics.median(c[n - 1] for c in curves[method, objective])
                               for n in checkpoints]
            print(f"  {method:>7}: " + " / ".join(f"{v:8.4f}" for v in medians[method]))
        at = checkpoints.index(30) if 30 in checkpoints else -1
        kumo_regret = medians["kumo"][at] - optimum
        tpe_regret = medians["TPE"][at] - optimum
        print(f"  regret at {checkpoints[at]} trials: kumo {kumo_regret:.4f}, TPE "
              f"{tpe_regret:.4f}, ratio kumo/TPE {kumo_regret / tpe_regret:.3f} "
              f"(target <= 1, aim 0.5)")
    for method in methods:
        per = seconds[method] / (seeds * len(OBJECTIVES) * trials)
        print(f"{method} search cost: {per * 1e3:.1f} ms per trial (mean)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-overhead", action="store_true",
                        help="skip the platform-overhead study")
    args = parser.parse_args()
    search_quality(args.seeds, args.trials, args.workers)
    if not args.no_overhead:
        measure_overhead()


if __name__ == "__main__":
    main()
