"""Metadata with missing values (a function that returns None for some samples, as the guide allows):
``analyze`` treats a missing value as a category of its own and never crashes on it (pandas 3 keeps
NaN through ``astype(str)``, which made every insight type fail)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leapscope import api
from leapscope.analysis.slicing import category_codes, equality_filter, show_value
from leapscope.store import Workspace, parse_filter

PREPROCESS = """
rng = np.random.default_rng(0)
x = rng.normal(size=(400, 4)).astype(np.float32)
y = (x[:, 0] > 0).astype(int)
site = np.array(["north", "south", None, "east"], dtype=object)[rng.integers(0, 4, size=400)]
x[site == None, 1] += 4.0  # noqa: E711 - the samples without a site form their own (harder) region
data = {"x": x, "y": y, "site": site}
return [ls.Subset("training", list(range(250)), data), ls.Subset("validation", list(range(250, 400)), data)]
"""
METADATA = """
site = subset.data["site"][sample_id]
return {"site": site, "checked": None if sample_id % 5 == 0 else bool(sample_id % 2), "bin": int(sample_id % 3)}
"""
MODEL = """
import torch
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1))
with torch.no_grad():
    model[0].weight[:] = torch.tensor([[-3.0, 0, 0, 0], [3.0, 0, 0, 0], [0, 2.0, 0, 0]])
    model[0].bias[:] = torch.tensor([0, 0, -4.0])  # class 2 (never a label) wins where x1 is shifted
return model
"""


def test_category_codes_keep_missing_values_and_types():
    codes, values = category_codes(pd.Series(["a", None, "b", np.nan, "a"], dtype=object))
    assert codes.tolist() == [0, 1, 2, 1, 0] and values == ["a", None, "b"]
    codes, values = category_codes(pd.Series([2, 1, 2], dtype="int64"))
    assert values == [2, 1] and type(values[0]) is int and show_value(values[0]) == "2"
    frame = pd.DataFrame({"site": ["a", None]})
    assert equality_filter(frame, "site", None) == "site == null" and show_value(None) == "missing"


def test_analyze_runs_on_metadata_with_missing_values(make_integration, tmp_path):
    folder = make_integration(preprocess=PREPROCESS, metadata=METADATA, model=MODEL)
    run = api.evaluate(folder, workspace=tmp_path / "ws", workers=0)
    insights = api.analyze(tmp_path / "ws", run.id)  # before: ValueError: Input contains NaN
    assert any("site" in i.explanation for i in insights), [i.title for i in insights]  # the failing group
    stored = Workspace(tmp_path / "ws").open_run(run.id)
    df = stored.to_pandas()
    assert df["info_site"].isna().sum() > 50 and df["info_checked"].isna().sum() > 50
    for insight in insights:
        test = insight.suggested_test or {}
        if test.get("filter"):  # every suggested filter selects samples of this run (== null for missing)
            assert "nan" not in test["filter"] and "'None'" not in test["filter"], test
            assert parse_filter(test["filter"], stored.samples.schema).mask(stored.samples).sum() > 0, test
