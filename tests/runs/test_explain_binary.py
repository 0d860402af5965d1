"""Explaining a binary sigmoid output (trial B, bug 6): ``ls.Prediction("diagnosis", labels=["benign"])`` of
shape (B, 1) has the classes ``not benign`` (0) and ``benign`` (1), as the run's label column says. The default
target is the predicted class in those words; ``--target benign`` / ``--target "not benign"`` both work, and
``not benign`` explains the negated score (``1 - p`` for a sigmoid, ``-z`` for a logit), in the CLI line, the
picture title, the targets list and the server's explanation alike. A real torch MLP on sklearn's breast_cancer,
trained in a second."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from leapscope import api, runs
from leapscope.analysis import attribution
from leapscope.cli import app
from leapscope.exceptions import LeapscopeError
from leapscope.models import open_model
from leapscope.store import Workspace

NET = """
import numpy as np
import torch
from sklearn.datasets import load_breast_cancer

d = load_breast_cancer()
X = d.data.astype(np.float64)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
Y = d.target.astype(np.float32)          # 1 = benign


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(30, 8)
        self.out = torch.nn.Linear(8, 1)

    def forward(self, x):
        return torch.sigmoid(self.out(torch.relu(self.hidden(x))))
"""

INTEGRATION = """
from pathlib import Path
import numpy as np
import torch
import leapscope as ls
from net import X, Y, Net

HERE = Path(__file__).parent


@ls.preprocess
def subsets():
    return [ls.Subset("training", [f"p{i}" for i in range(0, 400)]),
            ls.Subset("validation", [f"p{i}" for i in range(400, len(X))])]


@ls.input_encoder("features", channel_dim=None)
def features(sample_id, subset):
    return X[int(sample_id[1:])]


@ls.gt_encoder("diagnosis")
def diagnosis(sample_id, subset):
    return np.array([Y[int(sample_id[1:])]], dtype=np.float32)


@ls.visualizer("features", ls.VisualizerType.HORIZONTAL_BAR)
def bars(features):
    return ls.HorizontalBar(features, labels=[f"f{i}" for i in range(30)])


@ls.loss("bce")
def bce(gt, prediction):
    p = np.clip(prediction, 1e-7, 1 - 1e-7)
    return -(gt * np.log(p) + (1 - gt) * np.log(1 - p)).mean(axis=1)


@ls.load_model(predictions=[ls.Prediction("diagnosis", labels=["benign"])])
def model():
    net = Net()
    net.load_state_dict(torch.load(HERE / "weights.pt"))
    return net.eval()


@ls.integration_test
def test(sample_id, subset):
    x = features(sample_id, subset)
    y = diagnosis(sample_id, subset)
    p = model()(x)
    bce(y, p)
    bars(x)
"""

runner = CliRunner()


def _train(folder: Path) -> None:
    """A 30-8-1 MLP on the standardized breast_cancer features: 300 full-batch Adam steps (well under a second)."""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("binary_net", folder / "net.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    net = module.Net()
    x, y = torch.from_numpy(module.X[:400]), torch.from_numpy(module.Y[:400])[:, None]
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy(net(x), y).backward()
        opt.step()
    torch.save(net.state_dict(), folder / "weights.pt")


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("binary")
    (folder / "net.py").write_text(textwrap.dedent(NET))
    (folder / "integration.py").write_text(textwrap.dedent(INTEGRATION))
    (folder / "leapscope.yaml").write_text("name: binary\nentry: integration.py\n")
    _train(folder)
    workspace = folder / "ws"
    run = api.evaluate(folder, workspace=workspace, workers=0)
    return workspace, run.id


@pytest.fixture(scope="module")
def ctx(binary_run: tuple[Path, str]) -> runs.RunContext:
    workspace, run_id = binary_run
    return runs.RunContext(Workspace(workspace).open_run(run_id))


def _score(ctx: runs.RunContext, sample_id: str) -> float:
    inputs, _ = ctx.encode("validation", sample_id)
    return float(np.asarray(ctx.model.predict(ctx.model_inputs(inputs))[0]).reshape(-1)[0])


@pytest.fixture(scope="module")
def picked(ctx: runs.RunContext) -> dict[str, str]:
    """A validation sample predicted 'not benign' (p < 0.5) and one predicted 'benign' (p > 0.5)."""
    scores = {f"p{i}": _score(ctx, f"p{i}") for i in range(400, 460)}
    negative = min(scores, key=lambda k: abs(scores[k] - 0.2))
    positive = min(scores, key=lambda k: abs(scores[k] - 0.8))
    assert scores[negative] < 0.5 < scores[positive]
    return {"not benign": negative, "benign": positive}


def test_the_default_target_is_the_predicted_class_in_the_label_columns_words(
    ctx: runs.RunContext, picked: dict[str, str]
) -> None:
    table = ctx.run.samples.to_pandas().set_index("sample_id")
    items = runs.explain_samples(ctx, [("validation", picked["not benign"]), ("validation", picked["benign"])])
    negative, positive = items
    assert table.loc[picked["not benign"], "pred_diagnosis_label"] == "not benign"
    assert negative.description.startswith("predicted class 0 (not benign) score 1 - p = ")
    assert negative.attribution.target == [0]
    assert positive.description.startswith("predicted class 1 (benign) score p = ")
    assert positive.attribution.target == [1]
    assert negative.to_dict()["prediction"]["values"][0]["label"] == "not benign"  # the predicted class first
    assert positive.to_dict()["prediction"]["values"][0]["label"] == "benign"


def test_not_benign_explains_one_minus_p_and_benign_explains_p(ctx: runs.RunContext, picked: dict[str, str]) -> None:
    sample = ("validation", picked["not benign"])
    p = _score(ctx, picked["not benign"])
    (negative,) = runs.explain_samples(ctx, [sample], target="not benign", steps=64)
    (positive,) = runs.explain_samples(ctx, [sample], target="benign", steps=64)
    (by_index,) = runs.explain_samples(ctx, [sample], target="0", steps=64)
    assert f"1 - p = {1 - p:.3g}" in negative.description and "sigmoid output of benign" in negative.description
    np.testing.assert_allclose(negative.attribution.values, -positive.attribution.values, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(by_index.attribution.values, negative.attribution.values)
    # completeness: the attributions of 'not benign' add up to (1 - p(x)) - (1 - p(baseline))
    (at_zero,) = ctx.model.predict([np.zeros((1, 30), np.float32)])
    expected = (1 - p) - (1 - float(np.asarray(at_zero).reshape(-1)[0]))
    assert expected > 0 and negative.attribution.values.sum() == pytest.approx(expected, rel=0.06)
    (occlusion,) = runs.explain_samples(ctx, [sample], method="occlusion", target="not benign")
    (occlusion_pos,) = runs.explain_samples(ctx, [sample], method="occlusion", target="benign")
    np.testing.assert_allclose(occlusion.attribution.values, -occlusion_pos.attribution.values, atol=1e-6)


def test_a_target_that_names_no_class_lists_both_classes(ctx: runs.RunContext, picked: dict[str, str]) -> None:
    with pytest.raises(LeapscopeError) as caught:
        runs.explain_samples(ctx, [("validation", picked["benign"])], target="malignant")
    text = str(caught.value)
    assert "0 (not benign) and 1 (benign)" in text and "--target 'not benign'" in text
    with pytest.raises(LeapscopeError, match="not a class of this binary output"):
        runs.explain_samples(ctx, [("validation", picked["benign"])], target=2)


def test_the_targets_list_offers_both_classes_and_its_rows_explain(
    ctx: runs.RunContext, picked: dict[str, str]
) -> None:
    rows = runs.explain_targets(ctx, "validation", picked["not benign"])
    default = next(r for r in rows if r["default"])
    assert default["label"].startswith("default: predicted class 0 (not benign) score 1 - p")
    classes = {r["target"]: r["label"] for r in rows if r["kind"] == "class" and not r["default"]}
    assert set(classes) == {"benign", "not benign"}
    assert classes["not benign"].startswith("class 0 (not benign) score 1 - p")
    for target in classes:  # what the web app sends back to the explanation endpoint
        (item,) = runs.explain_samples(ctx, [("validation", picked["not benign"])], target=target)
        assert item.description == classes[target]


def test_the_cli_line_and_the_picture_title_name_the_predicted_class(
    binary_run: tuple[Path, str], picked: dict[str, str], tmp_path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    workspace, run_id = binary_run
    sample = picked["not benign"]
    args = ["explain", run_id, sample, "-w", str(workspace), "-o", str(tmp_path / "e.png"), "--json"]
    for target, words in ((None, "predicted class 0 (not benign)"), ("not benign", "class 0 (not benign) score 1 - p")):
        result = runner.invoke(app, args + (["--target", target] if target else []))
        assert result.exit_code == 0, result.output
        assert words in result.stdout and "(benign) score p" not in result.stdout
    plain = runner.invoke(app, args[:-1])
    assert plain.exit_code == 0 and "predicted class 0 (not benign)" in " ".join(plain.stdout.split())
    # the picture title is the same description
    ctx = runs.RunContext(Workspace(workspace).open_run(run_id))
    result, _ = ctx.explain("validation", sample)
    assert result.descriptions[0].startswith("predicted class 0 (not benign)")


def test_a_logit_output_explains_minus_z_for_the_negative_class() -> None:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1)).eval()
    model = open_model(net)
    x = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32) * 3
    z = np.asarray(model.predict([x])[0]).reshape(-1)
    assert (z < 0).any() and (z > 0).any() and (np.abs(z) > 1).any()  # logits, not probabilities
    result = attribution.explain(model, x, method="saliency", labels=["benign"], kind="class")
    assert result.target == [int(v > 0) for v in z]
    i = int(np.argmin(z))
    assert result.descriptions[i].startswith(f"predicted class 0 (not benign) score -z = {-z[i]:.3g}")
    negative = attribution.explain(model, x, method="integrated_gradients", labels=["benign"], target="not benign")
    positive = attribution.explain(model, x, method="integrated_gradients", labels=["benign"], target="benign")
    np.testing.assert_allclose(negative.values, -positive.values, rtol=1e-5, atol=1e-7)
    assert all(d.startswith("class 0 (not benign) score -z") for d in negative.descriptions)


def test_the_server_lists_and_explains_both_classes(binary_run: tuple[Path, str], picked: dict[str, str]) -> None:
    from fastapi.testclient import TestClient

    from leapscope.server import create_app

    workspace, run_id = binary_run
    sample = picked["not benign"]
    base = f"/api/v1/runs/{run_id}/samples/validation/{sample}"
    with TestClient(create_app(workspace, warm=False, serve_ui=False), base_url="http://127.0.0.1") as client:
        rows = client.get(f"{base}/targets").json()["data"]
        (default,) = [r for r in rows if r["default"]]
        assert default["label"].startswith("default: predicted class 0 (not benign)")
        bars = {}
        for target in ("benign", "not benign"):
            assert target in {r["target"] for r in rows}
            answer = client.get(f"{base}/explanation", params={"method": "integrated_gradients", "target": target})
            assert answer.status_code == 200, answer.text
            bars[target] = answer.json()
    values = {t: np.asarray(b["body"] if "body" in b else b["data"]["body"], dtype=np.float64) for t, b in bars.items()}
    np.testing.assert_allclose(values["not benign"], -values["benign"], rtol=1e-5, atol=1e-7)
