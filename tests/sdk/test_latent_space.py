"""``@ls.latent_space``: per-sample, prediction- and layer-based custom latent spaces are stored as
latent/<name>.npy, usable by similar samples, projections and insights, and validated by the check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import leapscope as ls
from leapscope import runs
from leapscope.exceptions import IntegrationDefinitionError, ValidationError
from leapscope.sdk._registry import Integration

SPACES = """
@ls.latent_space("raw")
def raw(sample_id, subset):
    return subset.data["x"][sample_id] * 2.0

@ls.latent_space("log_probs", prediction="classes")
def log_probs(classes):
    return np.log(np.clip(classes, 1e-7, 1.0))

@ls.latent_space("linear", layer="0")
def linear(activations):
    return activations[:, :2]
"""


def _x() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)


def test_custom_latent_spaces_are_stored_and_usable(make_integration, tmp_path):
    folder = make_integration(extra=SPACES)
    run = ls.evaluate(folder, workspace=tmp_path / "ws", workers=0)
    assert run.latent_spaces[0] != "raw" and set(run.latent_spaces[1:]) == {"raw", "log_probs", "linear"}
    ids = run.to_pandas().sample_id.astype(int).to_numpy()
    raw = np.asarray(run.latent("raw"))
    assert raw.dtype == np.float32 and raw.shape == (40, 4)
    np.testing.assert_allclose(raw, _x()[ids] * 2.0, rtol=1e-6)
    assert run.latent("log_probs").shape == (40, 3) and (np.asarray(run.latent("log_probs")) <= 0).all()
    assert run.latent("linear").shape == (40, 2)
    assert (run.dir / "latent" / "raw.npy").exists()
    assert run.manifest["latent_spaces"]["raw"]["layer"] == "custom:raw"

    near = runs.similar(run, str(ids[0]), subset=run.to_pandas().subset[0], k=3, space="raw")
    expected = np.argsort(
        1 - (raw @ raw[0]) / (np.linalg.norm(raw, axis=1) * np.linalg.norm(raw[0]) + 1e-12), kind="stable"
    )[1:4]
    assert list(near.row) == list(expected)
    assert runs.projection(run, space="raw").shape == (40, 2)
    runs.analyze(run, space="raw", types=["duplicates"])
    assert runs.analysis_input(run, "raw").latent_name == "raw"

    from typer.testing import CliRunner

    from leapscope.cli import app

    cli = CliRunner()
    result = cli.invoke(app, ["analyze", run.id, "-w", str(tmp_path / "ws"), "--latent", "raw"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert (run.dir / "projections").exists() and any("raw" in p.name for p in (run.dir / "projections").iterdir())
    result = cli.invoke(app, ["analyze", run.id, "-w", str(tmp_path / "ws"), "--latent", "nope"])
    assert result.exit_code != 0 and "no latent space 'nope'" in str(result.exception or result.output)


def test_check_reports_bad_custom_latents(make_integration, run_check):
    nan = make_integration(
        extra="""
@ls.latent_space("bad")
def bad(sample_id, subset):
    return np.array([1.0, np.nan]) if sample_id == 1 else np.ones(2)
"""
    )
    part = next(p for p in run_check(nan).parts if p.part == "latent spaces")
    assert part.status == "fail" and "NaN or inf" in part.error["message"] and part.error["sample_id"] == 1
    assert "bad (@latent_space 'bad')" in part.error["function"]

    ragged = make_integration(
        extra="""
@ls.latent_space("ragged")
def ragged(sample_id, subset):
    return np.ones(2 + sample_id % 2)
"""
    )
    part = next(p for p in run_check(ragged).parts if p.part == "latent spaces")
    assert part.status == "fail" and "different lengths" in part.error["message"]

    unknown = make_integration(
        extra="""
@ls.latent_space("nope", prediction="logits")
def nope(logits):
    return logits
"""
    )
    part = next(p for p in run_check(unknown).parts if p.part == "latent spaces")
    assert part.status == "fail" and "one of classes" in part.error["message"]

    good = make_integration(extra=SPACES)
    report = run_check(good)
    part = next(p for p in report.parts if p.part == "latent spaces")
    assert part.status == "pass" and set(part.functions) == {"raw", "log_probs", "linear"}


def test_evaluation_refuses_a_wrong_batch_shape(make_integration, tmp_path):
    folder = make_integration(
        extra="""
@ls.latent_space("short", prediction="classes")
def short(classes):
    return classes[:1]
"""
    )
    with pytest.raises(ValidationError, match=r"short \(@latent_space 'short'\).*one vector per sample of the batch"):
        ls.evaluate(folder, workspace=tmp_path / "ws", workers=0, fail_fast=True)


def test_declaration_errors():
    with pytest.raises(IntegrationDefinitionError, match="takes 1 argument"):
        ls.latent_space("a")(lambda sample_id: sample_id)
    with pytest.raises(IntegrationDefinitionError, match="not both"):
        ls.latent_space("a", layer="x", prediction="y")(lambda v: v)
    with pytest.raises(IntegrationDefinitionError, match="takes 2 argument"):
        ls.latent_space("a", prediction="y")(lambda a, b: a)
    registry = Integration()
    space = ls.latent_space("emb")(lambda sample_id, subset: np.zeros(3))
    registry.register(space)
    assert registry.latent_spaces == {"emb": space} and space.describe()["source"] == "sample"


TL_SPACE = """

from code_loader.inner_leap_binder.leapbinder_decorators import tensorleap_custom_latent_space


@tensorleap_custom_latent_space("pixels")
def pixels(idx: str, preprocess: PreprocessResponse) -> np.ndarray:
    return preprocess.data["images"][int(idx)].reshape(-1) * 3.0
"""


def test_tensorleap_custom_latent_space_maps_onto_ls_latent_space(tmp_path):
    import shutil

    from leapscope import api
    from leapscope.integration import load

    folder = tmp_path / "tl"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "tensorleap-mnist-style", folder)
    (folder / "leap_binder.py").write_text((folder / "leap_binder.py").read_text() + TL_SPACE)
    loaded = load(folder)
    space = loaded.integration.latent_spaces["pixels"]
    assert space.source == "sample" and "tensorleap_custom_latent_space" in space.__name__ + repr(space)
    subset = next(s for s in loaded.integration.preprocess.function() if s.name == "training")  # type: ignore[union-attr]
    sample_id = subset.sample_ids[0]
    value = space.function(sample_id, subset)
    assert np.asarray(value).shape == (64,)
    part = next(p for p in api.check(loaded, samples=1).parts if p.part == "latent spaces")
    assert part.status == "pass" and part.functions == ["pixels"]
