"""CLI start-up: wall time of `kumo --help` and `kumo jobs list` (against a live `kumo serve`
it starts on a free loopback port, in a temp KUMO_HOME/KUMO_DATA_DIR) next to
`python -c pass`, each run as a fresh process, taking turns so that the machine's drifting
speed hits them alike.

    python bench/cli_startup.py [--runs 10]

Prints the median of each and its ratio to `python -c pass`. Target: `kumo --help` under
0.3 s (heavy imports such as numpy, the engine and the server load only in the commands that
need them; `jobs list` adds httpx and one request).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from common import free_port, interleaved_ms

TARGET_S = 0.3
KUMO = str(Path(sys.executable).with_name("kumo"))


@contextmanager
def live_server(root: Path) -> Iterator[dict[str, str]]:
    """`kumo serve` on the embedded setup under `root`; yields the CLI's environment for it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUMO_")}
    env.update(KUMO_HOME=str(root / "home"), KUMO_DATA_DIR=str(root / "data"),
               KUMO_LOG_LEVEL="WARNING")
    port = free_port()
    proc = subprocess.Popen([KUMO, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(f"kumo serve exited with {proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("kumo serve did not become ready in 60 s")
        credentials = json.loads((root / "home" / "credentials").read_text())
        if credentials["url"] != f"http://127.0.0.1:{port}":
            raise RuntimeError(f"the credentials name {credentials['url']}")
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def command(argv: list[str], env: dict[str, str]) -> Callable[[], None]:
    """One run of `argv` as a new process, which must succeed (its output is dropped)."""
    def run() -> None:
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kumo-bench-") as tmp, \
            live_server(Path(tmp)) as env:
        runners = {"python -c pass": command([sys.executable, "-c", "pass"], env),
                   "kumo --help": command([KUMO, "--help"], env),
                   "kumo jobs list": command([KUMO, "jobs", "list"], env)}
        ms = interleaved_ms(runners, rounds=args.runs, steps=1, warmup=1)
    base = ms["python -c pass"]
    print(f"CLI start-up, median of {args.runs} interleaved runs each (fresh processes; "
          f"jobs list against a live kumo serve on loopback):")
    for name, value in ms.items():
        print(f"  {name:16s} {value / 1e3:6.3f} s  ({value / base:5.1f}x python -c pass)")
    verdict = "met" if ms["kumo --help"] / 1e3 < TARGET_S else "MISSED"
    print(f"  target: kumo --help under {TARGET_S} s: {verdict}")


if __name__ == "__main__":
    main()
