"""Two small non-classification integrations on real data, and their evaluated runs (session fixtures).

- dense: scikit-learn's digits upsampled to 16x16 (``np.kron``), a ground-truth mask ``pixel > 0.5``,
  a fixed-weight torch conv net whose (1, 16, 16) output is ``sigmoid(8 * (x - 0.5))`` (so it predicts
  the mask exactly: positive iff the pixel is above 0.5); ``dice_loss`` and the dice/IoU metrics.
- regression: scikit-learn's diabetes, a torch ``Linear(10, 1)`` whose weights are the least-squares
  fit on the training subset; built-in MSE loss and MAE metric.

Imported by tests/conftest.py, so the fixtures are available to every test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leapscope import api
from leapscope.store import Run, Workspace

DENSE = """
from __future__ import annotations
import numpy as np
import leapscope as ls
from sklearn.datasets import load_digits

@ls.preprocess
def subsets():
    digits = load_digits()
    images = np.kron(digits.images[:{n}] / 16.0, np.ones((2, 2))).astype(np.float32)  # (n, 16, 16) in [0, 1]
    data = {{"x": images, "digit": digits.target[:{n}]}}
    n = {n}
    return [
        ls.Subset("training", list(range(0, n // 2)), data),
        ls.Subset("validation", list(range(n // 2, 3 * n // 4)), data),
        ls.Subset("test", list(range(3 * n // 4, n)), data),
    ]

@ls.input_encoder("image", channel_dim=0)
def image(sample_id, subset):
    return subset.data["x"][sample_id][None]

@ls.gt_encoder("mask")
def mask(sample_id, subset):
    return (subset.data["x"][sample_id][None] > 0.5).astype(np.float32)

@ls.metadata("digit")
def digit(sample_id, subset):
    return int(subset.data["digit"][sample_id])

@ls.visualizer("image", ls.VisualizerType.IMAGE)
def show(image):
    return ls.Image(image[0])

dice_loss = ls.builtin_loss("dice_loss")
dice = ls.builtin_metric("dice")
iou = ls.builtin_metric("iou")

@ls.load_model(predictions=[ls.Prediction("text"{kind})])
def model():
    import torch
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 1), torch.nn.Sigmoid()
    )
    with torch.no_grad():
        net[0].weight.zero_(); net[0].bias.zero_()
        net[0].weight[0, 0, 1, 1] = 1.0  # channel 0 copies the pixel (>= 0, so the ReLU keeps it)
        net[2].weight.zero_(); net[2].weight[0, 0] = 8.0; net[2].bias.fill_(-4.0)  # sigmoid(8 x - 4)
    return net.eval()

@ls.integration_test
def test(sample_id, subset):
    x = image(sample_id, subset)
    y = mask(sample_id, subset)
    p = model()(x)
    dice_loss(y, p)
    dice(y, p)
    iou(y, p)
    show(x)
"""

REGRESSION = """
from __future__ import annotations
import numpy as np
import leapscope as ls
from sklearn.datasets import load_diabetes

@ls.preprocess
def subsets():
    x, y = load_diabetes(return_X_y=True)
    data = {"x": x.astype(np.float32), "y": y.astype(np.float32), "sex": x[:, 1] > 0}
    n = len(y)
    return [
        ls.Subset("training", list(range(0, 300)), data),
        ls.Subset("validation", list(range(300, 371)), data),
        ls.Subset("test", list(range(371, n)), data),
    ]

@ls.input_encoder("features", channel_dim=None)
def features(sample_id, subset):
    return subset.data["x"][sample_id]

@ls.gt_encoder("target")
def target(sample_id, subset):
    return subset.data["y"][sample_id : sample_id + 1]

@ls.metadata("sex")
def sex(sample_id, subset):
    return "a" if subset.data["sex"][sample_id] else "b"

mse = ls.builtin_loss("mean_squared_error")
mae = ls.builtin_metric("mean_absolute_error")

@ls.load_model(predictions=[ls.Prediction("progression")])
def model():
    import torch
    x, y = load_diabetes(return_X_y=True)
    a = np.c_[x[:300], np.ones(300)]
    w = np.linalg.lstsq(a, y[:300], rcond=None)[0]  # least squares on the training subset
    net = torch.nn.Linear(10, 1)
    with torch.no_grad():
        net.weight.copy_(torch.tensor(w[None, :10], dtype=torch.float32))
        net.bias.fill_(float(w[10]))
    return net.eval()

@ls.integration_test
def test(sample_id, subset):
    x = features(sample_id, subset)
    y = target(sample_id, subset)
    p = model()(x)
    mse(y, p)
    mae(y, p)
"""


def write_dense(folder: Path, n: int = 96, kind: str | None = None) -> Path:
    """The dense integration in ``folder`` (``n`` digits; ``kind`` declared on its prediction when given)."""
    folder.mkdir(parents=True, exist_ok=True)
    declared = f", kind={kind!r}" if kind else ""
    (folder / "integration.py").write_text(DENSE.format(n=n, kind=declared))
    return folder


def write_regression(folder: Path) -> Path:
    """The regression integration in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "integration.py").write_text(REGRESSION)
    return folder


def _evaluate(tmp: Path, folder: Path) -> tuple[Path, str]:
    import leapscope as ls

    workspace = tmp / "ws"
    run = ls.evaluate(folder, workspace=workspace, workers=1, batch_size=64)
    api.analyze(workspace, run.id)
    return workspace, run.id


@pytest.fixture(scope="session")
def dense_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A workspace with the dense integration evaluated and analyzed: ``(workspace, run id)``."""
    tmp = tmp_path_factory.mktemp("dense")
    return _evaluate(tmp, write_dense(tmp / "integration"))


@pytest.fixture(scope="session")
def dense_run(dense_workspace: tuple[Path, str]) -> Run:
    path, run_id = dense_workspace
    return Workspace(path).open_run(run_id)


@pytest.fixture(scope="session")
def regression_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A workspace with the diabetes regression integration evaluated and analyzed: ``(workspace, run id)``."""
    tmp = tmp_path_factory.mktemp("regression")
    return _evaluate(tmp, write_regression(tmp / "integration"))


@pytest.fixture(scope="session")
def regression_run(regression_workspace: tuple[Path, str]) -> Run:
    path, run_id = regression_workspace
    return Workspace(path).open_run(run_id)
