"""A loss that mixes the samples of a batch (``.mean(axis=0)``) passes ``check`` (batches of one) and gets
the right values in evaluate (called once per sample), but evaluate now says so, once, with the fix."""

from __future__ import annotations

import logging

import numpy as np

from leapscope import api

MIXING_LOSS = """
@ls.loss("mixed")
def mixed(label, classes):
    return np.atleast_1d((label * classes).sum(1).mean(axis=0))  # one value for the whole batch
"""
TEST = """
x = features(sample_id, subset)
y = label(sample_id, subset)
p = model()(x)
ce(y, p)
accuracy(y, p)
mixed(y, p)
bars(p)
"""


def test_a_batch_mixing_loss_is_computed_per_sample_and_reported(make_integration, tmp_path, caplog):
    folder = make_integration(extra=MIXING_LOSS, test=TEST)
    with caplog.at_level(logging.WARNING, logger="leapscope.engine.scoring"):
        run = api.evaluate(folder, workspace=tmp_path / "ws", workers=0, batch_size=8)
    df = run.to_pandas()
    assert df["loss_mixed"].notna().all() and df["error"].isna().all()
    # per sample: sum(label * p) is the probability of the true class, exactly what a per-sample call gives
    np.testing.assert_allclose(df["loss_mixed"], np.exp(-df["loss_ce"]), rtol=1e-5)
    warnings = [r.getMessage() for r in caplog.records if "works on each sample alone" in r.getMessage()]
    assert len(warnings) == 1, warnings  # once, not once per batch
    assert "mixed" in warnings[0] and "batch of 8 samples" in warnings[0] and "axis" in warnings[0]
