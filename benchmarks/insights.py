"""Insight quality and speed, measured side by side.

    .venv/bin/python -m benchmarks.insights [--skip-speed]

1. Label errors on public CIFAR-10 predictions (../shared/data/label-error-benchmarks):
   precision / recall / F1 of our `mislabeled` detector vs
   `cleanlab.filter.find_label_issues` defaults, six settings.
2. A planted failure slice on real data: a copy of the digits example whose
   validation images from "scanner B" (a metadata value) are inverted; does a top-3
   `low_performance` insight hold the slice, and does its explanation name it?
3. Planted label noise on the digits validation set: precision / recall of `mislabeled`.
4. Label errors under a shift (benchmarks/_label_shift.py, real digits, three seeds): a rotated
   ~100-sample validation "scanner C" slice that the model fails, 38 flipped validation labels and
   6 flipped training labels the model memorised. Mislabeled precision / recall (validation;
   training flips found), cleanlab alone for comparison; the slice's precision@10 / recall as the
   top `low_performance` insight. Targets: precision >= 0.6 at recall >= 0.8.
5. No duplicates: real data sets without duplicate rows (wine, breast cancer, digits pixels) as
   the latent space must yield no `duplicates` / `data_leakage` claim.
6. Planted duplicates: exact copies (same input hash) and near copies (tiny noise, new hash) of
   training rows placed in validation/test and in training must all be found.
7. Time of a full `analyze` on 50,000 samples vs cleanlab's `Datalab.find_issues`
   default audit on the same latents and probabilities.

    .venv/bin/python -m benchmarks.insights --skip-speed     # 1-6 (about 3 minutes on a busy 2-core box)
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


def label_errors_under_shift(seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    from cleanlab.filter import find_label_issues

    from benchmarks._label_shift import shifted_digits

    print(
        "4. label errors under a shift (real digits; rotated validation slice + 38 flips + 6 memorised training flips)"
    )
    print(
        f"   {'seed':<5} {'ours P/R (validation)':>22} {'training flips':>15} {'cleanlab alone P/R':>20} {'slice p@10/recall':>19}"
    )
    results = []
    for seed in seeds:
        bench = shifted_digits(seed=seed)
        data, truth = bench.data, bench.flipped
        found = ins.mislabeled(data, seed=seed)
        flagged = np.zeros(data.n, bool)
        for insight in found:
            flagged[insight.rows] = True
        val, train = data.subset == "validation", data.subset == "training"
        p, r, _ = _prf(flagged & val, truth & val)
        rows = np.flatnonzero(val)
        alone = np.zeros(data.n, bool)
        alone[rows[find_label_issues(data.labels[rows], data.pred_probs[rows], n_jobs=1)]] = True
        cp, cr, _ = _prf(alone, truth & val)
        from leapscope.analysis import latent_clusters

        slices = ins.low_performance(data, clusters=latent_clusters(data.latent, seed=seed))
        top = slices[0] if slices else None
        p10 = float(np.mean(bench.slice_rows[top.rows[:10]])) if top else 0.0
        rec = float(bench.slice_rows[top.rows].sum() / bench.slice_rows.sum()) if top else 0.0
        n_train = int((flagged & truth & train).sum())
        print(
            f"   {seed:<5} {p:>10.3f} / {r:.3f}      {n_train}/{int((truth & train).sum())} ({int((flagged & train).sum())} flagged)"
            f"   {cp:>8.3f} / {cr:.3f}     {p10:>8.2f} / {rec:.2f}"
        )
        results.append((p, r))
    mean_p, mean_r = np.mean([x[0] for x in results]), np.mean([x[1] for x in results])
    met = all(x[0] >= 0.6 and x[1] >= 0.8 for x in results)
    print(
        f"   mean precision {mean_p:.3f} recall {mean_r:.3f}; target P >= 0.6 at R >= 0.8 on every seed: {'met' if met else 'NOT met'}"
    )


def _pair_input(latent: np.ndarray, hashes: np.ndarray, seed: int = 0) -> AnalysisInput:
    n = len(latent)
    rng = np.random.default_rng(seed)
    codes = np.zeros(n, np.int64)
    perm = rng.permutation(n)
    codes[perm[int(0.6 * n) : int(0.8 * n)]], codes[perm[int(0.8 * n) :]] = 1, 2
    return AnalysisInput(
        subset=np.array(["training", "validation", "test"], dtype=object)[codes],
        sample_id=np.array([f"s{i}" for i in range(n)], dtype=object),
        latent=np.ascontiguousarray(latent, np.float32),
        loss=rng.gamma(2.0, 0.05, n),
        loss_name="loss_ce",
        metric=None,
        metric_name=None,
        labels=np.full(n, -1),
        pred_probs=None,
        class_names=[],
        metadata=pd.DataFrame(index=range(n)),
        input_hash=hashes.astype(object),
        latent_name="input",
    )


def _real_tables() -> dict[str, np.ndarray]:
    from sklearn import datasets

    out = {}
    for name, loader in (("wine", datasets.load_wine), ("breast_cancer", datasets.load_breast_cancer)):
        x = loader().data
        out[name] = (x - x.mean(axis=0)) / x.std(axis=0)
    pixels = datasets.load_digits().data
    _, first = np.unique(pixels, axis=0, return_index=True)  # digits holds a few repeated images: keep one each
    out["digits-pixels (unique)"] = pixels[np.sort(first)]
    return out


def no_duplicates() -> None:
    print("5. no duplicates (real data without duplicate rows as the latent): claims must be 0")
    for name, x in _real_tables().items():
        data = _pair_input(x, np.array([f"h{i}" for i in range(len(x))]))
        claims = ins.duplicates(data) + ins.data_leakage(data)
        print(f"   {name:<24} {len(x):>5} rows: {len(claims)} duplicate/leakage claims")


def planted_duplicates(n_exact: int = 10, n_near: int = 10) -> None:
    print(
        f"6. planted duplicates: {n_exact} exact + {n_near} near copies across subsets, {n_exact // 2} + {n_near // 2} within training"
    )
    rng = np.random.default_rng(0)
    for name, x in _real_tables().items():
        data = _pair_input(x, np.array([f"h{i}" for i in range(len(x))]))
        train = np.flatnonzero(data.subset == "training")
        held = np.flatnonzero(data.subset != "training")
        sources = rng.choice(train, n_exact + n_near + n_exact // 2 + n_near // 2, replace=False)
        targets = np.concatenate(
            [
                rng.choice(held, n_exact + n_near, replace=False),
                rng.choice(np.setdiff1d(train, sources), n_exact // 2 + n_near // 2, replace=False),
            ]
        )
        scale = float(np.median(np.linalg.norm(np.diff(x[:50], axis=0), axis=1)))
        planted = set()
        exact_ids = set(range(n_exact)) | set(range(n_exact + n_near, n_exact + n_near + n_exact // 2))
        for j, (src, dst) in enumerate(zip(sources, targets, strict=True)):
            data.latent[dst] = data.latent[src]
            if j in exact_ids:
                data.input_hash[dst] = data.input_hash[src]
            else:
                data.latent[dst] += rng.normal(size=x.shape[1]).astype(np.float32) * 1e-4 * scale
            planted.add(frozenset({str(data.sample_id[src]), str(data.sample_id[dst])}))
        found = set()
        for insight in ins.duplicates(data) + ins.data_leakage(data):
            for pair in insight.statistics["pairs"]:
                found.add(frozenset({pair["a"]["sample_id"], pair["b"]["sample_id"]}))
        hit, extra = len(planted & found), len(found - planted)
        print(f"   {name:<24} found {hit}/{len(planted)} planted pairs, {extra} other pairs claimed")


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
        f"7. full analyze on {run.samples.num_rows} samples: ours {ours:.1f}s (7 detectors; found: {', '.join(kinds) or 'none'}) "
        f"vs cleanlab Datalab.find_issues {theirs:.1f}s ({len(lab.issue_summary)} issue types) -> ratio {theirs / ours:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    label_errors_cifar()
    label_errors_under_shift()
    no_duplicates()
    planted_duplicates()
    with tempfile.TemporaryDirectory() as tmp:
        planted_slice(Path(tmp))
        planted_noise(Path(tmp))
        if not args.skip_speed:
            speed(Path(tmp))


if __name__ == "__main__":
    main()
