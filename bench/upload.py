"""Upload throughput: a file streamed through kumo's `PUT /v1/projects/{p}/data/{path}` into
an s3:// store, against the minio client writing the same bytes to the same S3 server
directly, in one run; plus the kumo server's peak RSS growth during the upload.

    python bench/upload.py [--size-mb 1024] [--rounds 3]

The S3 server is moto's (`moto_server`) on loopback, in its own process; kumo runs as
`kumo serve` with KUMO_STORE_URL=s3://bench. Targets: kumo at least 0.5x direct throughput,
peak RSS growth under 100 MB (the body is streamed, never held whole).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from common import free_port
from minio import Minio

CHUNK = 1 << 20
ACCESS, SECRET = "bench", "bench-secret"


class RepeatingReader(io.RawIOBase):
    """`size` bytes of one random chunk repeated, read like a file, never all in memory."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.chunk = os.urandom(CHUNK)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        out = (self.chunk * (n // CHUNK + 1))[:n]
        self.left -= n
        return out


def chunks(size: int) -> Iterator[bytes]:
    reader = RepeatingReader(size)
    while piece := reader.read(CHUNK):
        yield piece


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def _memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mb * CHUNK
    s3_port, kumo_port = free_port(), free_port()
    endpoint = f"127.0.0.1:{s3_port}"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS, "AWS_SECRET_ACCESS_KEY": SECRET}
    moto = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H",
                             "127.0.0.1", "-p", str(s3_port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [moto]
    try:
        _wait(f"http://{endpoint}/", moto)
        direct = Minio(endpoint, access_key=ACCESS, secret_key=SECRET, secure=False)
        direct.make_bucket("bench")
        with tempfile.TemporaryDirectory() as tmp:
            kumo_env = {**env, "KUMO_DATA_DIR": f"{tmp}/data", "KUMO_HOME": f"{tmp}/home",
                        "KUMO_STORE_URL": "s3://bench", "KUMO_S3_ENDPOINT": endpoint,
                        "KUMO_S3_ACCESS_KEY": ACCESS, "KUMO_S3_SECRET_KEY": SECRET,
                        "KUMO_LOG_LEVEL": "WARNING"}
            kumo = subprocess.Popen([str(Path(sys.executable).with_name("kumo")), "serve",
                                     "--port", str(kumo_port)], env=kumo_env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(kumo)
            base = f"http://127.0.0.1:{kumo_port}"
            _wait(f"{base}/healthz", kumo)
            token = json.loads(Path(f"{tmp}/home/credentials").read_text())["token"]
            http = httpx.Client(base_url=base, timeout=600,
                                headers={"Authorization": f"Bearer {token}"})
            url = "/v1/projects/default/data/bench/blob.bin"
            http.put(url, content=chunks(8 * CHUNK)).raise_for_status()  # warm-up
            baseline_kb = _memory_kb(kumo.pid, "VmHWM")
            speeds: dict[str, list[float]] = {"direct": [], "kumo": []}
            for _ in range(args.rounds):
                start = time.perf_counter()
                direct.put_object("bench", "direct.bin", RepeatingReader(size), size,
                                  part_size=16 * CHUNK)
                speeds["direct"].append(size / (time.perf_counter() - start))
                direct.remove_object("bench", "direct.bin")
                start = time.perf_counter()
                reply = http.put(url, content=chunks(size))
                speeds["kumo"].append(size / (time.perf_counter() - start))
                reply.raise_for_status()
                if reply.json()["size"] != size:
                    raise RuntimeError(f"kumo stored {reply.json()['size']} bytes")
                http.delete(url).raise_for_status()
            growth_mb = (_memory_kb(kumo.pid, "VmHWM") - baseline_kb) / 1024
            mb_s = {k: statistics.median(v) / CHUNK for k, v in speeds.items()}
            print(f"upload of {args.size_mb} MB into s3:// (moto on loopback), median of "
                  f"{args.rounds}:")
            print(f"  minio client direct: {mb_s['direct']:8.1f} MB/s")
            print(f"  kumo PUT .../data:   {mb_s['kumo']:8.1f} MB/s")
            print(f"  kumo/direct throughput: {mb_s['kumo'] / mb_s['direct']:.2f}")
            print(f"  kumo server peak RSS growth: {growth_mb:.1f} MB")
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
