"""Text with a tokenizer: float32 encoders feeding an ONNX model with int64 inputs (code-loader casts them)."""

from __future__ import annotations

from leapscope import api
from leapscope.runs import RunContext
from leapscope.sdk._visuals import Text, TextMask
from tests.integration.tensorleap import fixtures


def test_text_integration_checks_evaluates_and_shows_tokens(tmp_path):
    folder = fixtures.write_text(tmp_path / "tl_text")
    report = api.check(folder, samples=2)
    assert report.valid, report.to_dict()
    run = api.evaluate(folder, workspace=tmp_path / "ws", workers=0)
    table = run.samples.to_pandas()
    assert len(table) == 60 and table["error"].isna().all(), table["error"].dropna().head()
    assert {"metric_accuracy", "loss_ce", "text_words", "text_has_very"} <= set(table.columns)
    visuals = RunContext(api.open_run(tmp_path / "ws", run.id)).visuals("validation", "0")
    assert isinstance(visuals["tokens"], Text) and visuals["tokens"].tokens
    assert isinstance(visuals["token_mask"], TextMask)
