"""Ray scale-out overhead: the same evaluation on a local Ray cluster vs local worker processes (issue 15 §2).

    .venv/bin/python -m benchmarks.ray            # the figures of docs/scale-out.md (~4 min on 2 cores)
    .venv/bin/python -m benchmarks.ray --quick    # a short run (4k samples, one round)

Workload: the digits-like integration of :mod:`benchmarks.evaluate` (N samples, 8x8x1
images through examples/digits/model.onnx, batch 256, chunks of 2048), everything stored.
Contenders, run in alternation (:func:`benchmarks._timing.interleaved`) on one machine:

- ``local processes``: ``leapscope.evaluate`` with the default workers (one encoding
  process per core, the model in the evaluating process);
- ``ray (2 actors)``: ``leapscope.evaluate(ray=ADDRESS)`` on a local cluster of
  ``--cpus`` CPUs started once before the clock (``ray.init(address="local")``); each
  call starts its actors (each loads the integration and the model), so actor start-up
  is part of its time, as it is of a real run.

Reported: median seconds and samples/s of each, the overhead ratio (Ray samples/s ÷ local
samples/s; the goal is >= 0.8), the steady ratio (the same, counted from the first committed
chunk to the last: start-up excluded), the seconds until the first actor was ready, and the rows/s
the driver commits (receiving a chunk from the object store + writing its parts and
progress.json), measured over the driver's own busy time: the ceiling on how many actors
one driver can keep fed (docs/scale-out.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._timing import interleaved
from benchmarks.evaluate import digits_folder


class _Capture(logging.Handler):
    """Keeps the ray backend's INFO lines (actor start-up, driver commit rate)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4k samples, one round")
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster (and local workers)")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    n = args.samples or (4000 if args.quick else 20000)
    rounds = args.rounds or (1 if args.quick else 3)

    import ray

    import leapscope as ls

    capture = _Capture()
    engine_log = logging.getLogger("leapscope.engine")
    engine_log.addHandler(capture)
    engine_log.setLevel(logging.INFO)

    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    os.environ["BENCH_SAMPLES"] = str(n)
    folder = digits_folder(tmp / "digits")
    ws = tmp / "ws"
    started = time.perf_counter()
    context = ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    cluster_s = time.perf_counter() - started
    address = str(context.address_info["address"])
    common: dict[str, Any] = {"workspace": ws, "batch_size": 256, "chunk_size": 2048}
    steady: dict[str, list[float]] = {"local processes": [], f"ray ({args.cpus} actors)": []}

    def timed(name: str, **extra: Any) -> None:
        marks: list[tuple[float, int]] = []  # (time, samples committed so far), one per committed chunk

        def on_progress(subset: str, done: int, total: int) -> None:
            counts[subset] = done
            marks.append((time.perf_counter(), sum(counts.values())))

        counts: dict[str, int] = {}
        ls.evaluate(folder, on_progress=on_progress, **common, **extra)
        moving = [(t, c) for t, c in marks if c > 0]
        if len(moving) >= 2 and moving[-1][0] > moving[0][0]:
            steady[name].append((moving[-1][1] - moving[0][1]) / (moving[-1][0] - moving[0][0]))

    try:
        times = interleaved(
            {
                "local processes": lambda: timed("local processes", workers=args.cpus),
                f"ray ({args.cpus} actors)": lambda: timed(f"ray ({args.cpus} actors)", ray=address, workers=args.cpus),
            },
            rounds=rounds,
            warmup=1,
        )
    finally:
        ray.shutdown()
    ready = [float(m.split()[-2]) for m in capture.messages if m.startswith("first Ray worker ready")]
    commits = [m for m in capture.messages if m.startswith("Ray: the driver committed")]
    rates = [float(re.findall(r"\(([\d.]+) rows/s\)", m)[0]) for m in commits]
    local, remote = times["local processes"], times[f"ray ({args.cpus} actors)"]
    names = list(steady)
    # the median over the timed rounds (the warm-up call of each contender came first)
    rates_steady = {k: sorted(v[1:])[len(v[1:]) // 2] for k, v in steady.items() if len(v) > 1}
    result = {
        "samples": n,
        "cpus": args.cpus,
        "rounds": rounds,
        "cluster_start_s": round(cluster_s, 2),
        "seconds": {k: round(v, 2) for k, v in times.items()},
        "samples_per_s": {k: round(n / v) for k, v in times.items()},
        "overhead_ratio": round(local / remote, 3),
        # samples/s from the first committed chunk to the last: start-up (actors loading, fork, model) excluded
        "steady_samples_per_s": {k: round(v) for k, v in rates_steady.items()},
        "steady_ratio": round(rates_steady[names[1]] / rates_steady[names[0]], 3) if len(rates_steady) == 2 else None,
        "first_actor_ready_s_median": round(sorted(ready)[len(ready) // 2], 2) if ready else None,
        "driver_commit_rows_per_s_median": round(sorted(rates)[len(rates) // 2]) if rates else None,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
