"""Shared fixtures: small real integrations written to temporary folders."""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from leapscope import api
from leapscope.integration import CheckReport, LoadedIntegration, load
from leapscope.store import Run, Workspace

# the integrations the tests check and evaluate are trusted in a file of this session, never the user's own
# (~/.config/leapscope); set before any test runs, so the server's worker processes see the same file
os.environ["LEAPSCOPE_TRUST_FILE"] = str(Path(tempfile.mkdtemp(prefix="leapscope-trust-")) / "trusted.json")

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits"

# A complete, valid integration on generated data with a small torch model.
# Each {slot} holds a function body that a test may replace to break one part.
BASE = """
from __future__ import annotations
import numpy as np
import leapscope as ls

@ls.preprocess
def subsets():
{preprocess}

@ls.input_encoder("features", channel_dim=None)
def features(sample_id, subset):
{features}

@ls.gt_encoder("label")
def label(sample_id, subset):
{label}

@ls.metadata("info")
def info(sample_id, subset):
{metadata}

@ls.visualizer("bars", ls.VisualizerType.HORIZONTAL_BAR)
def bars(classes):
{visualizer}

@ls.metric("accuracy")
def accuracy(label, classes):
{metric}

@ls.loss("ce")
def ce(label, classes):
    return -(label * np.log(np.clip(classes, 1e-7, 1))).sum(1)

@ls.load_model(predictions=[ls.Prediction("classes", labels=["a", "b", "c"])])
def model():
{model}

@ls.integration_test
def test(sample_id, subset):
{test}

{extra}
"""

DEFAULTS = {
    "preprocess": """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=40)
    data = {"x": x, "y": y}
    return [ls.Subset("training", list(range(30)), data), ls.Subset("validation", list(range(30, 40)), data)]
""",
    "features": "    return subset.data['x'][sample_id]",
    "label": "    return np.eye(3, dtype=np.float32)[subset.data['y'][sample_id]]",
    "metadata": "    return {'odd': bool(sample_id % 2), 'index': int(sample_id)}",
    "visualizer": "    return ls.HorizontalBar(classes, labels=['a', 'b', 'c'])",
    "metric": "    return (label.argmax(1) == classes.argmax(1)).astype(np.float32)",
    "model": """
    import torch
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1))
""",
    "test": """
    x = features(sample_id, subset)
    y = label(sample_id, subset)
    p = model()(x)
    ce(y, p)
    accuracy(y, p)
    bars(p)
""",
    "extra": "",
}


def _indent(body: str) -> str:
    body = textwrap.dedent(body).strip("\n")
    return textwrap.indent(body, "    ")


@pytest.fixture
def make_integration(tmp_path: Path) -> Callable[..., Path]:
    """Write the base integration with some function bodies replaced; returns its folder."""
    counter = iter(range(1000))

    def make(**overrides: str) -> Path:
        folder = tmp_path / f"integration_{next(counter)}"
        folder.mkdir()
        slots = {k: (_indent(v) if k != "extra" else textwrap.dedent(v)) for k, v in {**DEFAULTS, **overrides}.items()}
        (folder / "integration.py").write_text(BASE.format(**slots))
        return folder

    return make


@pytest.fixture
def run_check() -> Callable[..., CheckReport]:
    def run(folder: Path | LoadedIntegration, samples: int = 3) -> CheckReport:
        return api.check(folder, samples=samples)

    return run


@pytest.fixture(scope="session")
def digits_loaded() -> LoadedIntegration:
    return load(DIGITS)


@pytest.fixture(scope="session")
def digits_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A workspace with one evaluated and analyzed digits run: ``(workspace path, run id)``.

    The only full evaluation of the digits example in a test session (all 1,797 samples, four
    chunks of 500 so that the chunk merge is exercised, heatmaps stored for validation). Tests
    read it; a test module that writes to a workspace takes :func:`digits_workspace_copy`.
    """
    import leapscope as ls

    path = tmp_path_factory.mktemp("digits-ws")
    run = ls.evaluate(DIGITS, workspace=path, workers=1, chunk_size=500, batch_size=50, explain="gradcam")
    api.analyze(path, run.id)
    return path, run.id


@pytest.fixture(scope="session")
def digits_run(digits_workspace: tuple[Path, str]) -> Run:
    """The evaluated digits run of :func:`digits_workspace`, opened from its workspace."""
    path, run_id = digits_workspace
    return Workspace(path).open_run(run_id)


@pytest.fixture(scope="module")
def digits_workspace_copy(
    digits_workspace: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """A copy of :func:`digits_workspace` for one test module that adds runs, tests or insights to it."""
    path, run_id = digits_workspace
    copy = tmp_path_factory.mktemp("digits-ws-copy") / "ws"
    shutil.copytree(path, copy)
    return copy, run_id


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests (tests/e2e/) are slow tests: ``-m "not slow"`` (make test-fast) leaves them out."""
    for item in items:
        if item.nodeid.startswith("tests/e2e/"):
            item.add_marker(pytest.mark.slow)


# session fixtures of a dense (per-pixel) and a regression run, for the task-aware outputs (issue 14)
from tests._task_models import dense_run, dense_workspace, regression_run, regression_workspace  # noqa: E402, F401
