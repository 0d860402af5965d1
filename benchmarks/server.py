"""Load test of the API on loopback: 50 concurrent clients, a bounded number of requests.

    .venv/bin/python -m benchmarks.server [--samples 50000] [--requests 20]

Evaluates the augmented digits set (benchmarks/evaluate.py) to a 50k-sample run,
serves it with uvicorn on 127.0.0.1, then 50 asyncio clients each fetch
``--requests`` pages of samples and single-sample records. Prints error count
and p50/p95/max latency per endpoint. Traffic stays on loopback and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SERVER = "import sys, uvicorn; from leapscope.server import create_app; uvicorn.run(create_app(sys.argv[1], warm=False), host='127.0.0.1', port=int(sys.argv[2]), log_level='warning')"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _load(base: str, run_id: str, ids: list[str], clients: int, requests: int) -> dict[str, list[float]]:
    import httpx

    times: dict[str, list[float]] = {"samples page": [], "sample record": []}
    errors = 0

    async def client(k: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            for i in range(requests):
                kind = "samples page" if i % 2 == 0 else "sample record"
                if kind == "samples page":
                    url, params = (
                        f"/api/v1/runs/{run_id}/samples",
                        {"subset": "validation", "offset": (k * 97 + i * 13) % 9000, "limit": 24},
                    )
                else:
                    url, params = (
                        f"/api/v1/runs/{run_id}/samples",
                        {"where": [f'sample_id == "{ids[(k * 31 + i) % len(ids)]}"'], "limit": 1},
                    )
                start = time.perf_counter()
                r = await c.get(url, params=params)
                times[kind].append(time.perf_counter() - start)
                errors += r.status_code != 200

    await asyncio.gather(*(client(k) for k in range(clients)))
    times["errors"] = [float(errors)]
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    import leapscope as ls
    from benchmarks.evaluate import _integration

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BENCH_SAMPLES"] = str(args.samples)
        run = ls.evaluate(
            _integration(Path(tmp) / "big"), workspace=Path(tmp) / "ws", workers=1, batch_size=256, chunk_size=8192
        )
        ids = run.samples["sample_id"].to_pylist()[-5000:]
        port = _port()
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(Path(tmp) / "ws"), str(port)], cwd=ROOT)
        try:
            base = f"http://127.0.0.1:{port}"
            import httpx

            for _ in range(100):
                try:
                    httpx.get(base + "/api/v1/health", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            httpx.get(f"{base}/api/v1/runs/{run.id}/samples", timeout=60)  # first request loads the run once
            times = asyncio.run(_load(base, run.id, ids, args.clients, args.requests))
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(
        f"{args.clients} concurrent clients x {args.requests} requests on a {run.samples.num_rows}-sample run: "
        f"{int(times.pop('errors')[0])} errors"
    )
    for kind, values in times.items():
        ms = np.array(values) * 1000
        print(
            f"  {kind:<14} n={len(ms):<5} p50 {np.percentile(ms, 50):6.1f} ms  p95 {np.percentile(ms, 95):6.1f} ms  max {ms.max():6.1f} ms"
        )


if __name__ == "__main__":
    main()
