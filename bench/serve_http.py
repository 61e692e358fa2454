"""HTTP serving throughput: kumo's `:predict` against a bare FastAPI endpoint running the same
numpy forward pass, both on loopback, measured in one run.

    python bench/serve_http.py [--seconds 5] [--rounds 3]

Serves the 784-512-256-128-10 ReLU MLP of bench/serve_predict.py: kumo from a snapshot
deployed as a model version (auth, routing, instance validation, the prediction service),
the bare endpoint (uvicorn + uvloop + httptools + orjson) from the same weights with no
checks. One instance per request, concurrency 1 and 32, the two servers taking turns round
by round; prints requests/s, p50/p99 latency and kumo/bare throughput. Both servers are one
process with one BLAS thread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import ORJSONResponse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import free_port
from loadgen import LoadResult, run_load
from serve_predict import DIMS, numpy_predict, parameters, snapshot_predict

SERVER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def bare_server(port: int) -> None:
    """The peer: the same forward pass behind the fastest plain FastAPI setup."""
    predict = numpy_predict(parameters())
    app = FastAPI()

    @app.post("/predict")
    async def serve(request: Request) -> ORJSONResponse:
        instances = orjson.loads(await request.body())["instances"]
        probs = predict(np.asarray(instances, dtype=np.float32))
        return ORJSONResponse({"predictions": [{"probs": p} for p in probs.tolist()]})

    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                log_level="warning", access_log=False)


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within 60 s")


@contextmanager
def process(args: list[str], env: dict[str, str], ready_url: str) -> Iterator[None]:
    proc = subprocess.Popen(args, env={**os.environ, **SERVER_ENV, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(ready_url, proc)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def deploy_on_kumo(base: str, token: str, snapshot: str) -> None:
    import httpx

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
        http.post("/v1/projects/default/models", json={"name": "mlp"}).raise_for_status()
        http.post("/v1/projects/default/models/mlp/versions",
                  json={"name": "v1", "deploymentUri": Path(snapshot).resolve().as_uri()},
                  ).raise_for_status()
        for _ in range(300):
            state = http.get("/v1/projects/default/models/mlp/versions/v1").json()["state"]
            if state != "CREATING":
                break
            time.sleep(0.1)
        if state != "READY":
            raise RuntimeError(f"the version ended {state}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_server(args.bare_server)
        return

    instance = np.random.default_rng(1).random(DIMS[0], dtype=np.float32).tolist()
    body = json.dumps({"instances": [instance]}).encode()
    with tempfile.TemporaryDirectory() as tmp:
        snapshot_predict(parameters(), f"{tmp}/snapshot")
        kumo_port, bare_port = free_port(), free_port()
        kumo_env = {"KUMO_DATA_DIR": f"{tmp}/data", "KUMO_HOME": f"{tmp}/home",
                    "KUMO_LOG_FORMAT": "text", "KUMO_LOG_LEVEL": "WARNING"}
        kumo = [str(Path(sys.executable).with_name("kumo")), "serve", "--port", str(kumo_port)]
        bare = [sys.executable, __file__, "--bare-server", str(bare_port)]
        with process(kumo, kumo_env, f"http://127.0.0.1:{kumo_port}/readyz"), \
                process(bare, {}, f"http://127.0.0.1:{bare_port}/docs"):
            token = json.loads(Path(f"{tmp}/home/credentials").read_text())["token"]
            deploy_on_kumo(f"http://127.0.0.1:{kumo_port}", token, f"{tmp}/snapshot")
            targets = {
                "kumo": (kumo_port, "/v1/projects/default/models/mlp:predict",
                         {"Authorization": f"Bearer {token}"}),
                "bare": (bare_port, "/predict", {}),
            }
            print(f"{'concurrency':>11}{'server':>7}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
            for concurrency in (1, 32):
                results: dict[str, list[LoadResult]] = {name: [] for name in targets}
                for port, path, headers in targets.values():  # warm-up
                    run_load("127.0.0.1", port, path, body, headers, concurrency, 1.0)
                for _ in range(args.rounds):
                    for name, (port, path, headers) in targets.items():
                        result = run_load("127.0.0.1", port, path, body, headers,
                                          concurrency, args.seconds)
                        if result.errors:
                            raise RuntimeError(f"{name}: {result.errors} requests failed")
                        results[name].append(result)
                rps = {}
                for name, runs in results.items():
                    rps[name] = statistics.median(r.rps for r in runs)
                    print(f"{concurrency:>11}{name:>7}{rps[name]:>9.0f}"
                          f"{statistics.median(r.p50_ms for r in runs):>9.2f}"
                          f"{statistics.median(r.p99_ms for r in runs):>9.2f}")
                print(f"{concurrency:>11}  kumo/bare throughput: {rps['kumo'] / rps['bare']:.2f}")


if __name__ == "__main__":
    main()
