"""A planted label-error benchmark under a distribution shift, on real data (scikit-learn's digits).

* training (60 %): ``n_train_flips`` labels flipped; a small CNN is trained until it has memorised
  them (training loss ~0), so the model itself agrees with those wrong labels;
* validation (20 %): ``n_slice`` samples come from a failing "scanner C" (rotated 90 degrees: the
  model gets most of them wrong although their labels are right), and ``n_val_flips`` labels are
  flipped, spread over the whole validation subset (a few fall inside the slice);
* test (20 %): clean.

:func:`shifted_digits` returns the detectors' :class:`AnalysisInput` (latent: the MLP's 64-d
penultimate ReLU layer; metadata: ``scanner``) and the truth masks. Deterministic for a seed;
a few seconds on one CPU core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leapscope.analysis import AnalysisInput

__all__ = ["Shifted", "shifted_digits"]


@dataclass
class Shifted:
    data: AnalysisInput
    flipped: np.ndarray  # (N,) bool: the given label is wrong
    slice_rows: np.ndarray  # (N,) bool: the rotated "scanner C" samples
    train_loss_of_flips: float  # mean training loss of the flipped training samples (memorised: ~0)


def _split(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    subset = np.empty(len(labels), dtype=object)
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        a, b = round(len(idx) * 0.6), round(len(idx) * 0.8)
        subset[idx[:a]], subset[idx[a:b]], subset[idx[b:]] = "training", "validation", "test"
    return subset


def _train(x: np.ndarray, y: np.ndarray, seed: int, steps: int):  # type: ignore[no-untyped-def]
    """An MLP 64 -> 256 -> 64 (ReLU, the latent) -> 10, full-batch Adam until it fits every training label."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU())
            self.fc2 = nn.Linear(64, 10)

        def features(self, v: torch.Tensor) -> torch.Tensor:
            return self.body(v)

        def forward(self, v: torch.Tensor) -> torch.Tensor:
            return self.fc2(self.features(v))

    model = MLP()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(tx), ty).backward()
        opt.step()
    return model.eval()


def shifted_digits(
    *, seed: int = 0, n_slice: int = 100, n_val_flips: int = 38, n_train_flips: int = 6, steps: int = 400
) -> Shifted:
    """Build the benchmark (see the module docstring). Needs torch and scikit-learn."""
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    true = digits.target.astype(np.int64)
    n = len(true)
    rng = np.random.default_rng(seed)
    subset = _split(true, rng)
    given = true.copy()
    flipped = np.zeros(n, bool)
    for name, count in (("training", n_train_flips), ("validation", n_val_flips)):
        rows = rng.choice(np.flatnonzero(subset == name), count, replace=False)
        given[rows] = (true[rows] + rng.integers(1, 10, count)) % 10
        flipped[rows] = True
    slice_rows = np.zeros(n, bool)
    slice_rows[rng.choice(np.flatnonzero(subset == "validation"), n_slice, replace=False)] = True
    x = images.copy()
    x[slice_rows] = np.rot90(x[slice_rows], k=1, axes=(2, 3))
    train = subset == "training"
    torch.set_num_threads(1)
    model = _train(x[train], given[train], seed, steps)
    with torch.inference_mode():
        feats = model.features(torch.from_numpy(x)).numpy().astype(np.float32)
        logits = model.fc2(torch.from_numpy(feats)).numpy()
    z = logits - logits.max(1, keepdims=True)
    probs = (np.exp(z) / np.exp(z).sum(1, keepdims=True)).astype(np.float32)
    loss = -np.log(np.clip(probs[np.arange(n), given], 1e-12, 1))
    scanner = np.where(rng.random(n) < 0.5, "A", "B").astype(object)
    scanner[slice_rows] = "C"
    data = AnalysisInput(
        subset=subset,
        sample_id=np.array([str(i) for i in range(n)], dtype=object),
        latent=feats,
        loss=loss,
        loss_name="loss_ce",
        metric=(probs.argmax(1) == given).astype(float),
        metric_name="metric_accuracy",
        labels=given,
        pred_probs=probs,
        class_names=[str(d) for d in range(10)],
        metadata=pd.DataFrame({"scanner": scanner, "brightness": x.reshape(n, -1).mean(1)}),
        input_hash=np.array([f"h{i}" for i in range(n)], dtype=object),
        latent_name="fc1",
    )
    return Shifted(data, flipped, slice_rows, float(loss[train & flipped].mean()))
