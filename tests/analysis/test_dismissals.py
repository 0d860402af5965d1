""" "Not a duplicate" dismissals: stored per project in the catalog, skipped by the duplicate and leakage
detectors of later analyses, and removable again."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from leapscope.analysis import AnalysisInput
from leapscope.analysis import insights as ins
from leapscope.exceptions import LeapscopeError, StoreError
from leapscope.runs import dismiss_pair, list_dismissals, undismiss_pair
from leapscope.runs.dismissals import dismissed_pairs
from leapscope.store import Workspace


def _data(n: int = 300) -> AnalysisInput:
    rng = np.random.default_rng(0)
    subset = np.where(np.arange(n) < 200, "training", "validation").astype(object)
    data = AnalysisInput(
        subset=subset,
        sample_id=np.array([str(i) for i in range(n)], dtype=object),
        latent=rng.normal(size=(n, 8)).astype(np.float32),
        loss=rng.gamma(2.0, 0.05, n),
        loss_name="loss_ce",
        metric=None,
        metric_name=None,
        labels=np.full(n, -1),
        pred_probs=None,
        class_names=[],
        metadata=pd.DataFrame(index=range(n)),
        input_hash=np.array([f"h{i}" for i in range(n)], dtype=object),
        latent_name="features",
    )
    data.input_hash[11] = data.input_hash[10]  # exact duplicate pair in training
    data.latent[21] = data.latent[20] + 1e-4  # near duplicate pair in training
    data.latent[250] = data.latent[3]  # validation 250 leaks training 3 (near)
    data.input_hash[260] = data.input_hash[4]  # validation 260 leaks training 4 (exact)
    return data


def _pairs(found: list[ins.Insight]) -> set[frozenset[str]]:
    return {frozenset({p["a"]["sample_id"], p["b"]["sample_id"]}) for i in found for p in i.statistics["pairs"]}


def test_dismissed_pairs_are_stored_listed_and_skipped(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.catalog.project("proj")
    data = _data()
    assert _pairs(ins.duplicates(data)) == {frozenset({"10", "11"}), frozenset({"20", "21"})}
    assert _pairs(ins.data_leakage(data)) == {frozenset({"250", "3"}), frozenset({"260", "4"})}

    first = dismiss_pair(ws, "proj", ("training", "21"), {"subset": "training", "sample_id": 20}, reason="twins")
    dismiss_pair(ws, "proj", {"subset": "training", "sample_id": "20"}, ("training", 21))  # idempotent, either order
    dismiss_pair(ws, "proj", {"input_hash": "h4"}, {"input_hash": "h260"})  # hashes: h260 was replaced by h4 above
    dismiss_pair(ws, "proj", ("validation", "250"), ("training", "3"))
    stored = list_dismissals(ws, "proj")
    assert len(stored) == 3 and stored[0].id == first.id and stored[0].reason == "twins"
    assert stored[0].a == {"subset": "training", "sample_id": "20"} and stored[0].kind == "samples"

    data.dismissed = dismissed_pairs(ws, "proj")
    assert _pairs(ins.duplicates(data)) == {frozenset({"10", "11"})}
    # the exact leak 260 = 4 is named by hashes h4/h260, but 260's hash now IS h4: an equal-hash pair is not
    # covered by a hash dismissal (it would need two different hashes), so it stays; the near leak is gone
    assert _pairs(ins.data_leakage(data)) == {frozenset({"260", "4"})}
    dismiss_pair(ws, "proj", ("validation", "260"), ("training", "4"))
    data.dismissed = dismissed_pairs(ws, "proj")
    assert ins.data_leakage(data) == []

    assert undismiss_pair(ws, "proj", ("training", "21"), ("training", "20")) is True
    assert undismiss_pair(ws, "proj", ("training", "21"), ("training", "20")) is False
    data.dismissed = dismissed_pairs(ws, "proj")
    assert frozenset({"20", "21"}) in _pairs(ins.duplicates(data))
    assert dismissed_pairs(ws, "other-project") == ins.DismissedPairs()  # per project


def test_hash_dismissal_covers_a_near_pair_of_distinct_inputs(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.catalog.project("proj")
    data = _data()
    dismiss_pair(ws, "proj", {"input_hash": "h21"}, {"input_hash": "h20"})
    data.dismissed = dismissed_pairs(ws, "proj")
    assert frozenset({"20", "21"}) not in _pairs(ins.duplicates(data))


def test_bad_dismissals_are_clear_errors(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.catalog.project("proj")
    with pytest.raises(StoreError, match="no project 'nope'"):
        dismiss_pair(ws, "nope", ("training", "1"), ("training", "2"))
    with pytest.raises(LeapscopeError, match="same sample"):
        dismiss_pair(ws, "proj", ("training", "1"), {"subset": "training", "sample_id": "1"})
    with pytest.raises(LeapscopeError, match="both by input_hash"):
        dismiss_pair(ws, "proj", ("training", "1"), {"input_hash": "abc"})
    with pytest.raises(LeapscopeError, match="argument b="):
        dismiss_pair(ws, "proj", ("training", "1"), {"sample": "2"})


def test_migration_adds_the_table_to_an_old_catalog(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.catalog.project("proj")
    db = sqlite3.connect(ws.catalog.path)
    db.execute("DROP TABLE dismissals")
    db.execute("UPDATE schema_version SET version = 2")
    db.commit()
    db.close()
    again = Workspace(tmp_path / "ws")
    dismiss_pair(again, "proj", ("training", "1"), ("training", "2"))
    assert len(list_dismissals(again, "proj")) == 1


def test_analyze_of_a_project_run_skips_its_dismissed_pairs(make_integration, tmp_path):
    import leapscope as ls
    from leapscope import runs

    folder = make_integration(features="    return subset.data['x'][5 if sample_id == 33 else sample_id]")
    run = ls.evaluate(folder, workspace=tmp_path / "ws", workers=0, project="dups")
    leaks = [i for i in runs.analyze(run, types=["data_leakage"]) if i.statistics["kind"] == "exact"]
    assert [p["a"]["sample_id"] for i in leaks for p in i.statistics["pairs"]] == ["33"]
    assert leaks[0].confidence == 1.0 and leaks[0].statistics["pairs"][0]["b"]["sample_id"] == "5"
    dismiss_pair(tmp_path / "ws", "dups", ("validation", "33"), ("training", "5"), reason="same sensor frame")
    assert [i for i in runs.analyze(run, types=["data_leakage"]) if i.statistics["kind"] == "exact"] == []
    undismiss_pair(tmp_path / "ws", "dups", ("training", "5"), ("validation", "33"))
    assert len(runs.analyze(run, types=["data_leakage"])) == 1
