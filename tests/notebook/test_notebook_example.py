"""examples/notebook.ipynb, executed on a real Jupyter kernel (nbclient), shows every object of the tour."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"


def test_the_shipped_notebook_is_cleared() -> None:
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.slow
def test_the_notebook_runs_and_shows_each_object(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbclient
    import nbformat

    monkeypatch.setenv("LEAPSCOPE_WORKSPACE", str(tmp_path / "ws"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()

    def outputs(marker: str) -> str:
        cell = next(c for c in nb.cells if c.cell_type == "code" and marker in c.source)
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, errors
        return "\n".join(str(v) for o in cell.outputs for v in o.get("data", {}).values())

    assert "Integration test" in outputs("ls.check(") and "every mandatory part passes" in outputs("ls.check(")
    run_html = outputs("ls.evaluate(")
    assert "Run " in run_html and "validation" in run_html and "complete" in run_html
    assert "pred_classes_label" in outputs("to_pandas()")
    assert "insights" in outputs("ls.analyze(")
    assert "data:image/png;base64," in outputs("sample.show()")
    assert "data:image/png;base64," in outputs("sample.explain(")
    assert "application/vnd.plotly.v1+json" in str(
        [o.get("data", {}).keys() for c in nb.cells if "run.map(" in c.source for o in c.outputs]
    )
    assert "<iframe" in outputs("ls.launch(")
    assert os.path.isdir(tmp_path / "ws" / "runs")
