"""Load test of the API on loopback: 50 concurrent clients against a 20k-50k-sample run.

    .venv/bin/python -m benchmarks.server [--samples 50000] [--requests 20] [--workspace DIR]

Evaluates the augmented digits set (benchmarks/evaluate.py) to a ``--samples`` run (kept in
``--workspace`` and reused by later calls when given), serves it with uvicorn on 127.0.0.1
(``leapscope.server.serve``, one process), then:

1. **alone**: one client sends ``--alone`` requests of each endpoint one after the other;
   the server process's CPU time (user + system, from ``psutil``) divided by the request
   count is the *server time per request*, printed with the client-side p50.
2. **under load**: ``--clients`` concurrent clients (asyncio, keep-alive HTTP/1.1
   connections, spread over ``--client-procs`` processes so that the load generator is not
   the bottleneck; it shares the machine's cores with the server) each send ``--requests``
   requests, cycling through the endpoints:

   - ``samples page``: ``GET /runs/{id}/samples?subset=validation&offset=..&limit=24``
   - ``sample filter``: ``GET /runs/{id}/samples?where=sample_id == "..."&limit=1``
   - ``sample``: ``GET /runs/{id}/samples/{subset}/{sample_id}`` (the sample page's record)

Prints the error count and p50/p95/p99/max latency per endpoint. Traffic stays on loopback
and stops by itself. ``--client httpx`` uses ``httpx.AsyncClient`` instead of the lean
client (its own CPU cost per request is several times the server's).
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
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SERVER = "import sys; from leapscope.server import serve; serve(sys.argv[1], port=int(sys.argv[2]), warm=False)"
ENDPOINTS = ("samples page", "sample filter", "sample")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _url(kind: str, run_id: str, keys: list[tuple[str, str]], k: int, i: int) -> str:
    base = f"/api/v1/runs/{run_id}/samples"
    subset, sid = keys[(k * 31 + i * 7) % len(keys)]
    if kind == "samples page":
        return base + "?" + urlencode({"subset": "validation", "offset": (k * 97 + i * 13) % 4000, "limit": 24})
    if kind == "sample filter":
        return base + "?" + urlencode({"where": f'sample_id == "{sid}"', "limit": 1})
    return f"{base}/{subset}/{sid}"


class _Lean:
    """A minimal keep-alive HTTP/1.1 GET client on one connection (status + Content-Length body)."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(int(v) for k, _, v in (h.partition(":") for h in lines[1:]) if k.lower() == "content-length")
        body = await self.reader.readexactly(length)
        if status == 200 and not body.startswith(b'{"data"'):
            status = -1
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _clients(
    port: int, run_id: str, keys: list[tuple[str, str]], ks: list[int], requests: int, lean: bool
) -> tuple[dict[str, list[float]], int]:
    """Clients ``ks`` (one keep-alive connection each) in this process; their latencies per endpoint, errors."""
    import httpx

    times: dict[str, list[float]] = {kind: [] for kind in ENDPOINTS}
    errors = 0

    async def client(k: int) -> None:
        nonlocal errors
        if lean:
            conn = _Lean(port)
            get: Callable[[str], Awaitable[int]] = conn.get
        else:
            hc = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)

            async def get(path: str) -> int:
                return (await hc.get(path)).status_code

        try:
            for i in range(requests):
                kind = ENDPOINTS[(k + i) % len(ENDPOINTS)]
                url = _url(kind, run_id, keys, k, i)
                start = time.perf_counter()
                status = await get(url)
                times[kind].append(time.perf_counter() - start)
                errors += status != 200
        finally:
            await (conn.close() if lean else hc.aclose())

    await asyncio.gather(*(client(k) for k in ks))
    return times, errors


def _client_process(
    port: int, run_id: str, keys: list[tuple[str, str]], ks: list[int], requests: int, lean: bool, start_at: float
) -> tuple[dict[str, list[float]], int, float, float]:
    """One load-generator process: waits for ``start_at`` (wall clock), runs its clients; (times, errors, start, end)."""
    time.sleep(max(0.0, start_at - time.time()))
    begin = time.time()
    times, errors = asyncio.run(_clients(port, run_id, keys, ks, requests, lean))
    return times, errors, begin, time.time()


def _load(
    port: int, run_id: str, keys: list[tuple[str, str]], clients: int, requests: int, lean: bool, procs: int
) -> tuple[dict[str, list[float]], int, float]:
    """``clients`` concurrent clients spread over ``procs`` processes; (latencies per endpoint, errors, wall seconds)."""
    import concurrent.futures as cf
    import multiprocessing

    groups = [list(range(clients))[i::procs] for i in range(procs)]
    start_at = time.time() + 1.0
    with cf.ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("fork")) as pool:
        parts = list(
            pool.map(
                _client_process, *zip(*[(port, run_id, keys, g, requests, lean, start_at) for g in groups], strict=True)
            )
        )
    times: dict[str, list[float]] = {kind: [] for kind in ENDPOINTS}
    for part, _, _, _ in parts:
        for kind, values in part.items():
            times[kind] += values
    wall = max(p[3] for p in parts) - min(p[2] for p in parts)
    return times, sum(p[1] for p in parts), wall


def _alone(
    port: int, run_id: str, keys: list[tuple[str, str]], n: int, pids: list[int]
) -> dict[str, tuple[float, float]]:
    """Per endpoint: (server CPU ms per request, client-side p50 ms), requests sent one at a time."""
    import psutil

    procs = [psutil.Process(p) for p in pids]

    def cpu() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in procs)

    async def go() -> dict[str, tuple[float, float]]:
        conn = _Lean(port)
        out = {}
        for kind in ENDPOINTS:
            for i in range(20):  # warm: first touches of rows and indexes
                await conn.get(_url(kind, run_id, keys, 999, i))
            lat = []
            before = cpu()
            for i in range(n):
                start = time.perf_counter()
                await conn.get(_url(kind, run_id, keys, 1000 + i, i))
                lat.append(time.perf_counter() - start)
            out[kind] = ((cpu() - before) / n * 1000, float(np.percentile(np.array(lat) * 1000, 50)))
        await conn.close()
        return out

    return asyncio.run(go())


def _workspace(folder: Path, samples: int) -> tuple[Path, str]:
    """A workspace holding a complete ``samples``-sample run (evaluated once, then reused)."""
    import leapscope as ls
    from benchmarks import evaluate
    from leapscope.store import Workspace

    integration = getattr(evaluate, "digits_folder", None) or evaluate._integration  # type: ignore[attr-defined]

    ws = folder / "ws"
    if ws.exists():
        for run in Workspace(ws).runs():
            if run.status == "complete" and run.num_rows == samples:
                return ws, run.id
    os.environ["BENCH_SAMPLES"] = str(samples)
    run = ls.evaluate(integration(folder / "big"), workspace=ws, workers=1, batch_size=256, chunk_size=8192)
    return ws, run.id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=30, help="requests per client")
    parser.add_argument("--alone", type=int, default=200, help="sequential requests per endpoint (server time)")
    parser.add_argument("--client", choices=("lean", "httpx"), default="lean")
    parser.add_argument(
        "--client-procs", type=int, default=5, help="load-generator processes the clients are spread over"
    )
    parser.add_argument("--workspace", type=Path, help="keep the evaluated run here and reuse it")
    parser.add_argument(
        "--server-src",
        type=Path,
        help="serve with the leapscope package under this src/ folder (e.g. an older commit's)",
    )
    args = parser.parse_args()
    import httpx
    import psutil

    from leapscope.store import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws, run_id = _workspace(args.workspace or Path(tmp), args.samples)

        samples = Workspace(ws).open_run(run_id).samples
        keys = list(zip(samples["subset"].to_pylist(), samples["sample_id"].to_pylist(), strict=True))[-5000:]
        port = _port()
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(ws), str(port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            env={
                **os.environ,
                "BENCH_SAMPLES": str(args.samples),  # the integration reads it (visuals)
                **({"PYTHONPATH": str(args.server_src.resolve())} if args.server_src else {}),
            },
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    httpx.get(base + "/api/v1/health", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            # the first requests build the run's read index and ask the visuals worker for its visualizers
            for _ in range(4):
                httpx.get(f"{base}/api/v1/runs/{run_id}/samples", timeout=120)
                httpx.get(base + _url("sample", run_id, keys, 0, 0), timeout=120)
            children = psutil.Process(server.pid).children(recursive=True)
            pids = [server.pid] + [c.pid for c in children]  # the server and its worker processes
            alone = _alone(port, run_id, keys, args.alone, pids)
            times, errors, wall = _load(
                port, run_id, keys, args.clients, args.requests, args.client == "lean", args.client_procs
            )
        finally:
            server.terminate()
            server.wait(timeout=20)
    total = sum(len(v) for v in times.values())
    print(f"{samples.num_rows}-sample run, os.cpu_count()={os.cpu_count()}, load avg {os.getloadavg()[0]:.2f}")
    print(f"alone (one request at a time, {args.alone} per endpoint): server CPU per request, client p50")
    for kind, (cpu_ms, p50) in alone.items():
        print(f"  {kind:<14} server {cpu_ms:5.2f} ms CPU   p50 {p50:6.2f} ms")
    print(
        f"{args.clients} concurrent clients in {args.client_procs} processes x {args.requests} requests "
        f"({args.client} client): {errors} errors, "
        f"{total / wall:.0f} requests/s"
    )
    for kind, values in times.items():
        ms = np.array(values) * 1000
        p50, p95, p99 = np.percentile(ms, [50, 95, 99])
        print(
            f"  {kind:<14} n={len(ms):<5} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  max {ms.max():6.1f} ms"
        )


if __name__ == "__main__":
    main()
