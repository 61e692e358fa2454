"""A small closed-loop HTTP load generator for the serving benchmarks: N threads, each with
one keep-alive connection, POST the same JSON body back to back for a fixed time.

http.client keeps the client's own cost per request low, and the same generator drives
every server a benchmark compares, so the ratio compares like with like."""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def run_load(host: str, port: int, path: str, body: bytes, headers: dict[str, str],
             concurrency: int, seconds: float) -> LoadResult:
    """Drive `POST path` with `concurrency` connections for `seconds`; any non-200 counts as
    an error (and the benchmark should refuse to print a ratio)."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    stop_at = time.perf_counter() + seconds
    all_headers = {"Content-Type": "application/json", **headers}

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        mine = latencies[i]
        while True:
            start = time.perf_counter()
            if start >= stop_at:
                break
            conn.request("POST", path, body=body, headers=all_headers)
            reply = conn.getresponse()
            reply.read()
            mine.append(time.perf_counter() - start)
            if reply.status != 200:
                errors[i] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    merged = sorted(x for per in latencies for x in per)
    if not merged:
        raise RuntimeError("no request completed")
    return LoadResult(len(merged), elapsed, statistics.median(merged) * 1e3,
                      merged[min(len(merged) - 1, int(0.99 * len(merged)))] * 1e3,
                      sum(errors))
