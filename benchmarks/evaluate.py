"""Evaluate throughput and memory, side by side with bare onnxruntime.

    .venv/bin/python -m benchmarks.evaluate [--sizes 10000 50000]

1. Throughput: ``leapscope.evaluate`` samples/s (encoding in workers, predictions,
   latents, metrics, Parquet writes) divided by bare
   ``onnxruntime.InferenceSession.run`` samples/s on the same samples already
   encoded into batches of the same size (the model alone, nothing stored).
2. Memory: peak RSS of a whole evaluation (parent + workers) at 10k and 50k
   samples, each in a fresh process; the ratio should stay near 1 (the latent array,
   N x 64 float32, is the only part that grows with N).

The data set is the digits example augmented (shifts and noise) to N samples, run
through the digits ONNX model.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits"

INTEGRATION = """
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

CHILD = """
import json, os, resource, sys, time
import leapscope as ls
workers = None if sys.argv[3] == "None" else int(sys.argv[3])
t = time.perf_counter()
run = ls.evaluate(sys.argv[1], workspace=sys.argv[2], workers=workers, batch_size=256, chunk_size=4096)
seconds = time.perf_counter() - t
t = time.perf_counter()  # again in the same process: imports and first-call costs already paid
ls.evaluate(sys.argv[1], workspace=sys.argv[2], workers=workers, batch_size=256, chunk_size=4096)
warm = time.perf_counter() - t
self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "warm_seconds": warm, "rss_parent_mb": self_kb / 1024, "rss_worker_mb": child_kb / 1024,
                  "samples": run.samples.num_rows, "latent_mb": run.latent().nbytes / 2**20}))
"""


def _integration(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "integration.py").write_text(INTEGRATION.replace("MODEL", str(DIGITS / "model.onnx")))
    (folder / "data.py").write_text((DIGITS / "data.py").read_text())
    return folder


def evaluate_in_child(folder: Path, n: int, workers: int | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as ws:
        env = {**__import__("os").environ, "BENCH_SAMPLES": str(n)}
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(folder), ws, str(workers)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def bare_onnxruntime(folder: Path, n: int, batch: int = 256) -> float:
    """Samples/s of InferenceSession.run on the same samples, encoded beforehand."""
    import os

    import onnxruntime as ort

    os.environ["BENCH_SAMPLES"] = str(n)
    sys.path.insert(0, str(folder))
    from leapscope.integration import load

    loaded = load(folder)
    integ = loaded.integration
    subsets = integ.preprocess.function()  # type: ignore[union-attr]
    encoder = integ.input_encoders["image"].function
    x = np.stack([encoder(i, s) for s in subsets for i in s.sample_ids])
    batches = [x[i : i + batch] for i in range(0, len(x), batch)]
    session = ort.InferenceSession(str(DIGITS / "model.onnx"))
    for b in batches[:5]:
        session.run(None, {"image": b})
    start = time.perf_counter()
    for b in batches:
        session.run(None, {"image": b})
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument(
        "--workers", type=int, default=None, help="encoding processes (default: evaluate's default, one per core)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = _integration(Path(tmp) / "bench")
        results = {}
        for n in args.sizes:
            results[n] = evaluate_in_child(folder, n, args.workers)
            r = results[n]
            bare = bare_onnxruntime(folder, n)
            rate, warm = n / r["seconds"], n / r["warm_seconds"]
            print(
                f"N={n:>6}: evaluate {rate:>8.0f} samples/s (fresh process), {warm:>8.0f} samples/s (warm)  bare onnxruntime "
                f"{bare:>8.0f} samples/s  ratio {rate / bare:.3f} / {warm / bare:.3f}  "
                f"peak RSS parent {r['rss_parent_mb']:.0f} MB, worker {r['rss_worker_mb']:.0f} MB, latent {r['latent_mb']:.1f} MB"
            )
        if len(args.sizes) >= 2:
            small, large = results[min(args.sizes)], results[max(args.sizes)]
            total = lambda r: r["rss_parent_mb"] + r["rss_worker_mb"]  # noqa: E731
            growth = total(large) - total(small)
            latent_growth = large["latent_mb"] - small["latent_mb"]
            print(
                f"peak RSS {max(args.sizes)} / {min(args.sizes)}: {total(large) / total(small):.3f} "
                f"(grew {growth:.0f} MB, of which latent {latent_growth:.1f} MB; "
                f"without the latent: {(total(large) - large['latent_mb']) / (total(small) - small['latent_mb']):.3f})"
            )
    print(
        textwrap.dedent("""
        note: the digits model runs ~200k samples/s alone, so evaluate is bound by calling the
        integration's Python encoders per sample, not by the model.""").strip()
    )


if __name__ == "__main__":
    main()
