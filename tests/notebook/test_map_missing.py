"""``run.map(color=...)`` shows every sample: a missing (None / NaN) colour value is its own group."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

import leapscope as ls
from tests.conftest import BASE, DEFAULTS, _indent

pytest.importorskip("plotly")

# 40 samples (ids 0..39): a bool, a text and a float metadata value, each missing for some samples
METADATA = """
return {
    'flag': None if sample_id % 5 == 0 else bool(sample_id % 2),
    'tag': None if sample_id % 7 == 0 else f"t{sample_id % 3}",
    'score': float('nan') if sample_id % 4 == 0 else float(sample_id),
}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One evaluated run of the tests' base integration (tests/conftest.py) with the metadata above."""
    folder = tmp_path_factory.mktemp("map-missing")
    slots = {
        k: (_indent(v) if k != "extra" else textwrap.dedent(v)) for k, v in {**DEFAULTS, "metadata": METADATA}.items()
    }
    (folder / "integration.py").write_text(BASE.format(**slots))
    return ls.evaluate(folder, workspace=folder / "ws", workers=0)


def _traces(fig) -> dict[str, int]:
    return {trace.name: len(trace.x) for trace in fig.data}


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("info_flag", {"True": 16, "False": 16, "missing": 8}),
        ("info_tag", {"t0": 12, "t1": 11, "t2": 11, "missing": 6}),
    ],
)
def test_categorical_colour_keeps_missing_values_as_a_group(run, column, expected):
    fig = run.map(color=column)
    assert _traces(fig) == expected
    assert [trace.name for trace in fig.data][-1] == "missing"  # listed last, in grey
    assert fig.data[-1].marker.color == "rgba(150,150,150,0.7)"


def test_numeric_colour_shows_missing_values_in_grey_with_a_legend_entry(run):
    fig = run.map(color="info_score")
    assert sum(len(trace.x) for trace in fig.data) == run.num_rows == 40
    scale, missing = fig.data
    assert len(scale.x) == 30 and list(scale.marker.color) == [float(i) for i in range(40) if i % 4]
    assert missing.name == "info_score missing" and missing.showlegend and len(missing.x) == 10
    assert missing.marker.color == "rgba(150,150,150,0.7)"
    assert sorted(int(sample_id) for _, sample_id in missing.customdata) == list(range(0, 40, 4))


def test_a_category_named_missing_is_not_merged_with_the_missing_values():
    import pandas as pd

    from leapscope.notebook._run import _missing_label

    assert _missing_label(pd.Series(["missing", None, "a"])) == "(missing)"
    assert _missing_label(pd.Series(["a", None])) == "missing"
