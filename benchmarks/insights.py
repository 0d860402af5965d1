"""Insight quality and speed, measured side by side.

    .venv/bin/python -m benchmarks.insights [--skip-speed]

1. Label errors on public CIFAR-10 predictions (../shared/data/label-error-benchmarks):
   precision / recall / F1 of our `mislabeled` detector vs
   `cleanlab.filter.find_label_issues` defaults, six settings.
2. A planted failure slice on real data: a copy of the digits example whose
   validation images from "scanner B" (a metadata value) are inverted; does a top-3
   `low_performance` insight hold the slice, and does its explanation name it?
3. Planted label noise on the digits validation set: precision / recall of `mislabeled`.
4. Time of a full `analyze` on 50,000 samples vs cleanlab's `Datalab.find_issues`
   default audit on the same latents and probabilities.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import leapscope as ls
from leapscope import runs
from leapscope.analysis import AnalysisInput
from leapscope.analysis import insights as ins

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits"
LABEL_DATA = ROOT.parent / "shared" / "data" / "label-error-benchmarks"


def _prf(flagged: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = int((flagged & truth).sum())
    p = tp / max(int(flagged.sum()), 1)
    r = tp / max(int(truth.sum()), 1)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def label_errors_cifar() -> None:
    from cleanlab.filter import find_label_issues

    print("1. label errors on CIFAR-10 (50,000 out-of-sample predictions): precision / recall / F1")
    print(f"   {'setting':<34} {'ours':>22} {'cleanlab defaults':>22}")
    for setting in ("cifar-10", "cifar-10n-aggregate", "cifar-10n-worst"):
        for model in ("resnet18", "swin_base_patch4_window7_224"):
            stem = LABEL_DATA / f"{setting}_{model}"
            probs = np.load(f"{stem}_pred_probs.npy")
            noisy = np.load(f"{stem}_noisy_labels.npy")
            truth = noisy != np.load(f"{stem}_true_labels.npy")
            n = len(noisy)
            data = AnalysisInput(
                subset=np.full(n, "validation", dtype=object),
                sample_id=np.arange(n).astype(str).astype(object),
                latent=np.zeros((n, 0), np.float32),
                loss=np.zeros(n),
                loss_name="loss",
                metric=None,
                metric_name=None,
                labels=noisy.astype(np.int64),
                pred_probs=probs.astype(np.float32),
                class_names=[str(i) for i in range(10)],
                metadata=pd.DataFrame(index=range(n)),
            )
            found = ins.mislabeled(data)
            ours = np.zeros(n, bool)
            if found:
                ours[found[0].rows] = True
            theirs = find_label_issues(noisy, probs, n_jobs=1)
            a, b = _prf(ours, truth), _prf(theirs, truth)
            print(
                f"   {setting + ' / ' + model.split('_')[0]:<34} {a[0]:.3f}/{a[1]:.3f}/{a[2]:.3f}       {b[0]:.3f}/{b[1]:.3f}/{b[2]:.3f}"
            )
    print("   (these files hold no latents, so ours runs confident learning alone: the kNN vote needs a latent space)")


PLANTED = '''
"""The digits example with a planted problem: CORRUPT = "invert" or "labels"."""
import numpy as np
import leapscope as ls
import data

CORRUPT = CORRUPT_MODE
LABELS = [str(d) for d in range(10)]


def scanner(sample_id):
    return "ABC"[(sample_id * 7919) % 3]


def flipped(sample_id, subset):
    return CORRUPT == "labels" and subset.name == "validation" and (sample_id * 2654435761) % 10 == 0


@ls.preprocess
def subsets():
    images, labels, rows = data.load()
    return [ls.Subset(s, [int(r) for r in idx], {"images": images, "labels": labels}) for s, idx in rows.items()]


@ls.input_encoder("image")
def image(sample_id, subset):
    img = subset.data["images"][sample_id]
    if CORRUPT == "invert" and subset.name == "validation" and scanner(sample_id) == "B":
        return (1.0 - img).astype(np.float32)
    return img


@ls.gt_encoder("label")
def label(sample_id, subset):
    y = int(subset.data["labels"][sample_id])
    if flipped(sample_id, subset):
        y = (y + 1 + sample_id % 9) % 10
    return np.eye(10, dtype=np.float32)[y]


@ls.metadata("digit")
def digit(sample_id, subset):
    return str(int(subset.data["labels"][sample_id]))


@ls.metadata("scanner")
def scanner_meta(sample_id, subset):
    return scanner(sample_id)


accuracy = ls.builtin_metric("accuracy")
cross_entropy = ls.builtin_loss("cross_entropy")


@ls.load_model(predictions=[ls.Prediction("classes", labels=LABELS)])
def model():
    return MODEL_PATH


@ls.integration_test
def test(sample_id, subset):
    p = model()(image(sample_id, subset))
    y = label(sample_id, subset)
    cross_entropy(y, p)
    accuracy(y, p)
'''


def _planted_integration(folder: Path, mode: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.py").write_text((DIGITS / "data.py").read_text())
    code = PLANTED.replace("CORRUPT_MODE", repr(mode)).replace("MODEL_PATH", repr(str(DIGITS / "model.onnx")))
    (folder / "integration.py").write_text(code)
    return folder


def planted_slice(tmp: Path) -> None:
    folder = _planted_integration(tmp / "slice", "invert")
    run = ls.evaluate(folder, workspace=tmp / "ws-slice", workers=1)
    found = [i for i in runs.analyze(run) if i.type == "low_performance"]
    df = run.to_pandas()
    planted = set(df[(df.subset == "validation") & (df["scanner"] == "B")].row)
    acc = df[df.row.isin(planted)].metric_accuracy.mean()
    print(
        f"2. planted failure slice: {len(planted)} validation digits from scanner B inverted (their accuracy {acc:.2f})"
    )
    best = None
    for rank, insight in enumerate(found[:3], 1):
        rows = set(insight.rows)
        precision10 = len([r for r in insight.rows[:10] if r in planted]) / max(1, min(10, len(rows)))
        recall = len(rows & planted) / len(planted)
        names = "scanner = 'B'" in insight.explanation or "scanner == 'B'" in insight.explanation
        print(
            f"   top-{rank}: {insight.title[:70]:<70} precision@10 {precision10:.2f}  recall {recall:.2f}  names scanner=B: {names}"
        )
        if best is None and recall > 0.5:
            best = rank
    print(f"   planted slice in the top 3: {'yes, rank ' + str(best) if best else 'no'}")


def planted_noise(tmp: Path) -> None:
    folder = _planted_integration(tmp / "noise", "labels")
    run = ls.evaluate(folder, workspace=tmp / "ws-noise", workers=1)
    df = run.to_pandas()
    val = df[df.subset == "validation"]
    ids = val.sample_id.astype(int).to_numpy()
    truth_rows = set(val.row[(ids * 2654435761) % 10 == 0])
    found = [i for i in runs.analyze(run, types=["mislabeled"]) if i.subset == "validation"]
    flagged = set(found[0].rows) if found else set()
    p = len(flagged & truth_rows) / max(1, len(flagged))
    r = len(flagged & truth_rows) / max(1, len(truth_rows))
    print(
        f"3. planted label noise: {len(truth_rows)} of {len(val)} validation labels flipped; mislabeled precision {p:.3f} recall {r:.3f}"
    )


def speed(tmp: Path) -> None:
    from cleanlab import Datalab

    sys.path.insert(0, str(ROOT))
    from benchmarks.evaluate import _integration

    os.environ["BENCH_SAMPLES"] = "50000"
    folder = _integration(tmp / "big")
    run = ls.evaluate(folder, workspace=tmp / "ws-big", workers=1, batch_size=256, chunk_size=8192)
    data = runs.analysis_input(run)
    start = time.perf_counter()
    found = runs.analyze(run)
    ours = time.perf_counter() - start
    kinds = sorted({i.type for i in found})
    start = time.perf_counter()
    lab = Datalab(data={"label": data.labels}, label_name="label", verbosity=0)
    lab.find_issues(features=np.asarray(data.latent), pred_probs=data.pred_probs)
    theirs = time.perf_counter() - start
    print(
        f"4. full analyze on {run.samples.num_rows} samples: ours {ours:.1f}s (7 detectors; found: {', '.join(kinds) or 'none'}) "
        f"vs cleanlab Datalab.find_issues {theirs:.1f}s ({len(lab.issue_summary)} issue types) -> ratio {theirs / ours:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    label_errors_cifar()
    with tempfile.TemporaryDirectory() as tmp:
        planted_slice(Path(tmp))
        planted_noise(Path(tmp))
        if not args.skip_speed:
            speed(Path(tmp))


if __name__ == "__main__":
    main()
