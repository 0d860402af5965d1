"""A small real run whose sample ids hold URL-special characters (shared by server and security tests)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.conftest import BASE, DEFAULTS, _indent

# every id must stay one path parameter and reach its own sample
ODD_IDS = ["a/b", "a%2Fb", "?#%", "../../../projects", "x y", "%", "..", "ü/é"]

_SLOTS = {
    **DEFAULTS,
    "preprocess": f"""
    rng = np.random.default_rng(0)
    ids = {ODD_IDS!r} + [f"s{{i}}" for i in range(22)]
    x = rng.normal(size=(len(ids), 4)).astype(np.float32)
    y = rng.integers(0, 3, size=len(ids))
    data = {{"x": x, "y": y, "index": {{s: i for i, s in enumerate(ids)}}}}
    return [ls.Subset("training", ids[:20], data), ls.Subset("validation", ids[20:], data)]
""",
    "features": "    return subset.data['x'][subset.data['index'][sample_id]]",
    "label": "    return np.eye(3, dtype=np.float32)[subset.data['y'][subset.data['index'][sample_id]]]",
    "metadata": "    return {'index': int(subset.data['index'][sample_id])}",
}


def make_odd_run(folder: Path) -> tuple[Path, str]:
    """Write the integration under ``folder/odd`` and evaluate it into ``folder/ws``; returns (workspace, run id)."""
    import leapscope as ls

    integration = folder / "odd"
    integration.mkdir(parents=True)
    slots = {k: (_indent(v) if k != "extra" else textwrap.dedent(v)) for k, v in _SLOTS.items()}
    (integration / "integration.py").write_text(BASE.format(**slots))
    run = ls.evaluate(integration, workspace=folder / "ws", workers=1)
    assert run.status == "complete"
    return folder / "ws", run.id
