"""Evaluate throughput and memory, side by side with a hand-written loop and bare onnxruntime.

    .venv/bin/python -m benchmarks.evaluate           # the figures of README / issue 15 (~3 min on 2 cores)
    .venv/bin/python -m benchmarks.evaluate --quick   # a short run (smaller N, one round)

One run reports, for two workloads, the median seconds of each contender, run in
alternation (:func:`benchmarks._timing.interleaved`, so drift and other load hit
every contender alike):

- ``evaluate``: ``leapscope.evaluate`` with the default workers (one encoding process
  per core) — everything stored: predictions, losses, metrics, metadata, latent
  vectors, Parquet chunks, the merge, the catalog;
- ``evaluate workers=0``: the same, encoding in the evaluating process;
- ``hand loop``: the loop a user writes without leapscope — per batch, call the
  integration's encoders, ground truths and metadata on every sample, stack,
  ``InferenceSession.run``, call the metrics and losses; it stores nothing. Its
  session is created and its preprocess run before the clock starts (in its favour);
- ``bare onnxruntime``: ``InferenceSession.run`` alone on the same samples encoded
  into batches beforehand (the model's own cost).

Workloads:

1. ``digits-like``: the digits example augmented (shifts) to N samples (20k), 8x8x1
   images through examples/digits/model.onnx, batch 256 — bound by the Python encoders;
2. ``resnet18``: a ResNet-18-shaped CNN (random weights, 3x64x64, defined in
   :mod:`benchmarks.attribution`) exported here to ONNX with torch, batch 64 — bound
   by the model.

CPU per sample (user + system, this process and its workers) is printed next to each
figure: on a machine shared with other work it shows the cost even when wall times drift.

Then peak RSS (parent + largest worker) of the digits-like evaluation at 10k and
100k samples, each in a fresh process; their ratio should stay below 1.2 (the latent
array, N x 64 float32, is the only part that grows with N).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._timing import interleaved

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits"

DIGITS_INTEGRATION = """
import os
import numpy as np
import leapscope as ls
import data

N = int(os.environ["BENCH_SAMPLES"])
LABELS = [str(d) for d in range(10)]


def augmented():
    images, labels, _ = data.load()
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(images), size=N)
    shifts = rng.integers(-1, 2, size=(N, 2))
    return images, labels, idx, shifts


@ls.preprocess
def subsets():
    images, labels, idx, shifts = augmented()
    cut = int(N * 0.8)
    d = {"images": images, "labels": labels, "idx": idx, "shifts": shifts}
    return [ls.Subset("training", list(range(cut)), d), ls.Subset("validation", list(range(cut, N)), d)]


@ls.input_encoder("image")
def image(i, subset):
    d = subset.data
    img = np.roll(d["images"][d["idx"][i]], tuple(d["shifts"][i]), axis=(0, 1))
    return img.astype(np.float32)


@ls.gt_encoder("label")
def label(i, subset):
    y = np.zeros(10, np.float32)
    y[subset.data["labels"][subset.data["idx"][i]]] = 1
    return y


@ls.metadata("digit")
def digit(i, subset):
    return str(int(subset.data["labels"][subset.data["idx"][i]]))


accuracy = ls.builtin_metric("accuracy")
cross_entropy = ls.builtin_loss("cross_entropy")


@ls.load_model(predictions=[ls.Prediction("classes", LABELS)])
def model():
    return "MODEL"


@ls.integration_test
def test(i, subset):
    x = image(i, subset)
    y = label(i, subset)
    p = model()(x)
    accuracy(y, p)
    cross_entropy(y, p)
"""

RESNET_INTEGRATION = """
import os
import numpy as np
import leapscope as ls

N = int(os.environ["BENCH_SAMPLES"])
LABELS = [str(d) for d in range(10)]


@ls.preprocess
def subsets():
    bank = np.random.default_rng(0).random((256, 3, 64, 64), dtype=np.float32)  # images, reused cyclically
    classes = np.random.default_rng(1).integers(0, 10, size=N)
    d = {"bank": bank, "classes": classes}
    cut = int(N * 0.8)
    return [ls.Subset("training", list(range(cut)), d), ls.Subset("validation", list(range(cut, N)), d)]


@ls.input_encoder("image", channel_dim=0)
def image(i, subset):
    return subset.data["bank"][i % 256]


@ls.gt_encoder("label")
def label(i, subset):
    y = np.zeros(10, np.float32)
    y[subset.data["classes"][i]] = 1
    return y


@ls.metadata("group")
def group(i, subset):
    return int(i % 7)


accuracy = ls.builtin_metric("accuracy")
cross_entropy = ls.builtin_loss("cross_entropy")


@ls.load_model(predictions=[ls.Prediction("classes", LABELS)])
def model():
    return "MODEL"


@ls.integration_test
def test(i, subset):
    x = image(i, subset)
    y = label(i, subset)
    p = model()(x)
    accuracy(y, p)
    cross_entropy(y, p)
"""

CHILD = """
import json, os, resource, sys, time
import leapscope as ls
t = time.perf_counter()
run = ls.evaluate(sys.argv[1], workspace=sys.argv[2], batch_size=256, chunk_size=4096)
seconds = time.perf_counter() - t
self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "rss_parent_mb": self_kb / 1024, "rss_worker_mb": child_kb / 1024,
                  "samples": run.samples.num_rows, "latent_mb": run.latent().nbytes / 2**20}))
"""


def digits_folder(folder: Path) -> Path:
    """The digits-like integration in ``folder`` (its size comes from ``BENCH_SAMPLES``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "integration.py").write_text(DIGITS_INTEGRATION.replace("MODEL", str(DIGITS / "model.onnx")))
    (folder / "data.py").write_text((DIGITS / "data.py").read_text())
    return folder


def resnet_folder(folder: Path) -> Path:
    """The ResNet-18-shaped integration in ``folder``, with its model exported to ONNX by torch."""
    import torch

    from benchmarks.attribution import build_model

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    module, _ = build_model("resnet18", 1)
    model_path = folder / "resnet18.onnx"
    torch.onnx.export(
        module,
        (torch.zeros(1, 3, 64, 64),),
        str(model_path),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        dynamo=False,
    )
    (folder / "integration.py").write_text(RESNET_INTEGRATION.replace("MODEL", str(model_path)))
    return folder


def _model_path(loaded: Any) -> str:
    fn = loaded.integration.model_loader
    return str(fn.function())


def hand_loop(loaded: Any, batch: int) -> Callable[[], int]:
    """The obvious loop without leapscope: encode per sample, stack, ``InferenceSession.run``, metrics; stores nothing."""
    import onnxruntime as ort

    integ = loaded.integration
    subsets = integ.preprocess.function()
    session = ort.InferenceSession(_model_path(loaded), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    (encoder,) = [e.function for e in integ.input_encoders.values()]
    (gt,) = [g.function for g in integ.gt_encoders.values()]
    metadata = [m.function for m in integ.metadata.values()]
    scores = [f.function for f in (*integ.metrics.values(), *integ.losses.values())]

    def run() -> int:
        n = 0
        for subset in subsets:
            ids = subset.sample_ids
            for start in range(0, len(ids), batch):
                chunk = ids[start : start + batch]
                x = np.stack([encoder(i, subset) for i in chunk])
                y = np.stack([gt(i, subset) for i in chunk])
                _meta = [[m(i, subset) for m in metadata] for i in chunk]
                (pred,) = session.run(None, {input_name: x})
                for fn in scores:
                    fn(y, pred)
                n += len(chunk)
        return n

    return run


def bare_onnxruntime(loaded: Any, batch: int) -> Callable[[], int]:
    """``InferenceSession.run`` alone on the samples encoded into batches beforehand."""
    import onnxruntime as ort

    integ = loaded.integration
    (encoder,) = [e.function for e in integ.input_encoders.values()]
    batches = []
    for subset in integ.preprocess.function():
        ids = subset.sample_ids
        for start in range(0, len(ids), batch):
            batches.append(np.stack([encoder(i, subset) for i in ids[start : start + batch]]))
    session = ort.InferenceSession(_model_path(loaded), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def run() -> int:
        for b in batches:
            session.run(None, {input_name: b})
        return sum(len(b) for b in batches)

    return run


def evaluate_call(loaded: Any, batch: int, workers: int | None) -> Callable[[], int]:
    """One whole ``leapscope.evaluate`` into a fresh workspace (removed afterwards)."""
    import leapscope as ls

    def run() -> int:
        ws = tempfile.mkdtemp(prefix="bench-ws-")
        try:
            result = ls.evaluate(loaded, workspace=ws, workers=workers, batch_size=batch, chunk_size=4096)
            return int(result.samples.num_rows)
        finally:
            shutil.rmtree(ws, ignore_errors=True)

    return run


def throughput(name: str, folder: Path, n: int, batch: int, rounds: int) -> dict[str, float]:
    """Samples/s of each contender on one workload (median of ``rounds`` alternating calls)."""
    from leapscope.integration import load

    os.environ["BENCH_SAMPLES"] = str(n)
    loaded = load(folder)
    contenders = {
        "evaluate": evaluate_call(loaded, batch, None),
        "evaluate workers=0": evaluate_call(loaded, batch, 0),
        "hand loop": hand_loop(loaded, batch),
        "bare onnxruntime": bare_onnxruntime(loaded, batch),
    }
    cpu: dict[str, list[float]] = {k: [] for k in contenders}

    def with_cpu(key: str, fn: Callable[[], int]) -> Callable[[], int]:
        def run() -> int:
            before = os.times()
            try:
                return fn()
            finally:
                after = os.times()
                cpu[key].append(sum(after[i] - before[i] for i in range(4)))  # user+sys, this process + children

        return run

    load = os.getloadavg()[0]
    seconds = interleaved({k: with_cpu(k, fn) for k, fn in contenders.items()}, rounds=rounds, warmup=1)
    rates = {k: n / s for k, s in seconds.items()}
    print(f"\n{name}: N={n}, batch {batch}, median of {rounds} alternating rounds (load average {load:.1f})")
    for k, rate in rates.items():
        cpu_us = sorted(cpu[k])[len(cpu[k]) // 2] / n * 1e6
        print(f"  {k:<20} {seconds[k]:7.2f} s  {rate:9.0f} samples/s  CPU {cpu_us:6.1f} us/sample")
    return rates


def peak_rss(folder: Path, n: int) -> dict[str, float]:
    """Peak RSS (MB) of one digits-like evaluation of ``n`` samples in a fresh process."""
    with tempfile.TemporaryDirectory() as ws:
        env = {**os.environ, "BENCH_SAMPLES": str(n)}
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(folder), ws], capture_output=True, text=True, env=env, check=True
        )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run: smaller N, one round")
    args = parser.parse_args()
    digits_n, resnet_n, rounds = (5_000, 256, 1) if args.quick else (20_000, 2_048, 3)
    rss_sizes = (10_000, 30_000) if args.quick else (10_000, 100_000)
    with tempfile.TemporaryDirectory() as tmp:
        digits = digits_folder(Path(tmp) / "digits")
        resnet = resnet_folder(Path(tmp) / "resnet")
        d = throughput("digits-like (encoder-bound)", digits, digits_n, 256, rounds)
        r = throughput("resnet18 3x64x64 (model-bound)", resnet, resnet_n, 64, max(1, rounds - 1))
        rss = {n: peak_rss(digits, n) for n in rss_sizes}
    total = {n: v["rss_parent_mb"] + v["rss_worker_mb"] for n, v in rss.items()}
    small, large = rss_sizes
    rows = [
        ("digits-like", "evaluate / hand loop", d["evaluate"] / d["hand loop"], ">= 1.5"),
        ("digits-like", "evaluate workers=0 / hand loop", d["evaluate workers=0"] / d["hand loop"], ">= 0.85"),
        ("digits-like", "evaluate / bare onnxruntime", d["evaluate"] / d["bare onnxruntime"], "-"),
        ("resnet18", "evaluate / bare onnxruntime", r["evaluate"] / r["bare onnxruntime"], ">= 0.95"),
        ("resnet18", "evaluate workers=0 / bare onnxruntime", r["evaluate workers=0"] / r["bare onnxruntime"], "-"),
        ("resnet18", "evaluate / hand loop", r["evaluate"] / r["hand loop"], "-"),
        ("memory", f"peak RSS {large // 1000}k / {small // 1000}k", total[large] / total[small], "<= 1.2"),
    ]
    print("\npeak RSS (parent + largest worker): " + ", ".join(f"{n}: {total[n]:.0f} MB" for n in rss_sizes))
    print(f"\n{'workload':<12} {'ratio':<40} {'value':>7}  target")
    for workload, what, value, target in rows:
        print(f"{workload:<12} {what:<40} {value:7.3f}  {target}")
    print(f"\n(cores: {os.cpu_count()}; {time.strftime('%Y-%m-%d %H:%M')})")


if __name__ == "__main__":
    main()
