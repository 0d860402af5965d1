"""Scale-out on Ray (issue 15 §2): the same run as a local one, exactly once through actor and driver kills.

One local Ray cluster (``num_cpus=2``, its files in a temporary folder instead of /tmp/ray)
serves the whole module; it is shut down and its folder removed at the end, and each
evaluation's actors are killed when it finishes (checked after a driver kill).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import ray

import leapscope as ls
from leapscope.exceptions import LeapscopeError
from leapscope.store import Run, Workspace
from tests.conftest import DIGITS

pytestmark = pytest.mark.slow

#: a small digits subset: 3 subsets x 90 samples in chunks of 30 (9 chunks), batches of 15
DIGITS_ARGS: dict[str, Any] = {"max_samples": 90, "chunk_size": 30, "batch_size": 15}
SECRET = "s3cr3t-ray-token"


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The address of a local 2-CPU Ray cluster this process is connected to (evaluate reuses the connection)."""
    if ray.is_initialized():
        ray.shutdown()
    temp = tempfile.mkdtemp(prefix="lsray")  # short: Ray's socket paths live under it; removed afterwards
    try:
        context = ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=temp)
        yield str(context.address_info["address"])
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def local_digits(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The reference: the digits subset evaluated by local processes."""
    ws = tmp_path_factory.mktemp("ray-ws")
    return ls.evaluate(DIGITS, workspace=ws, workers=1, **DIGITS_ARGS)


def _values(column: pa.ChunkedArray) -> Any:
    kind = column.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        kind = kind.value_type
        if pa.types.is_floating(kind):
            return [None if v is None else np.asarray(v, np.float64) for v in column.to_pylist()]
    if pa.types.is_floating(kind):
        return np.asarray(column.to_numpy(zero_copy_only=False), np.float64)
    return column.to_pylist()


def assert_same_run(ours: Run, reference: Run) -> None:
    """Same samples.parquet rows (floats to 1e-5), errors and latent vectors; a different run id."""
    assert ours.id != reference.id and ours.status == "complete"
    a, b = ours.samples, reference.samples
    assert a.schema.names == b.schema.names
    assert a.num_rows == b.num_rows
    for name in a.schema.names:
        x, y = _values(a[name]), _values(b[name])
        if isinstance(x, np.ndarray):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=name)
        elif x and any(isinstance(v, np.ndarray) for v in x):
            assert [v is None for v in x] == [v is None for v in y], name
            for u, v in zip(x, y, strict=True):
                if u is not None:
                    np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6, err_msg=name)
        else:
            assert x == y, name
    assert ours.latent_spaces == reference.latent_spaces
    for space in ours.latent_spaces:
        np.testing.assert_allclose(ours.latent(space), reference.latent(space), rtol=1e-4, atol=1e-5, equal_nan=True)
    assert ours.errors.to_pylist() == reference.errors.to_pylist()


def assert_each_sample_once(run: Run, subsets: dict[str, int]) -> None:
    table = run.samples
    assert table.num_rows == sum(subsets.values())
    assert table["row"].to_pylist() == list(range(table.num_rows))
    keys = list(zip(table["subset"].to_pylist(), table["sample_id"].to_pylist(), strict=True))
    assert len(set(keys)) == len(keys)
    assert {s: table["subset"].to_pylist().count(s) for s in subsets} == subsets
    for space in run.latent_spaces:
        assert run.latent(space).shape[0] == table.num_rows


def test_a_ray_run_is_the_local_run(cluster: str, local_digits: Run) -> None:
    seen: list[tuple[str, int, int]] = []
    run = ls.evaluate(
        DIGITS,
        workspace=local_digits.dir.parents[1],
        ray=cluster,
        on_progress=lambda s, d, t: seen.append((s, d, t)),
        **DIGITS_ARGS,
    )
    assert_same_run(run, local_digits)
    assert run.row.version_id == local_digits.row.version_id  # the same version: same model, code and config
    assert run.row.config == local_digits.row.config
    totals = {s: t for s, _, t in seen}
    assert {s: max(d for x, d, _ in seen if x == s) for s in totals} == totals  # every subset reported done


def test_an_actor_killed_mid_run_loses_and_duplicates_nothing(
    cluster: str, local_digits: Run, caplog: pytest.LogCaptureFixture
) -> None:
    killed: list[str] = []
    before = set(ray.util.list_named_actors())  # actors of earlier evaluations may still be stopping

    def kill_an_actor(subset: str, done: int, total: int) -> None:
        if done and not killed:  # after the first committed chunk, while the others are in flight
            names = sorted(n for n in set(ray.util.list_named_actors()) - before if n.startswith("leapscope:"))
            ray.kill(ray.get_actor(names[0]))
            killed.append(names[0])

    with caplog.at_level("WARNING", logger="leapscope.engine"):
        run = ls.evaluate(
            DIGITS, workspace=local_digits.dir.parents[1], ray=cluster, on_progress=kill_an_actor, **DIGITS_ARGS
        )
    assert killed
    assert any("died; its chunks are sent again" in r.getMessage() for r in caplog.records)
    assert_each_sample_once(run, {"training": 90, "validation": 90, "test": 90})
    assert_same_run(run, local_digits)


SLOW_FEATURES = """
import time
time.sleep(0.015)
return subset.data['x'][sample_id]
"""
MANY = """
rng = np.random.default_rng(0)
x = rng.normal(size=(300, 4)).astype(np.float32)
y = rng.integers(0, 3, size=300)
data = {"x": x, "y": y}
return [ls.Subset("training", list(range(240)), data), ls.Subset("validation", list(range(240, 300)), data)]
"""


def _leapscope_actors() -> list[str]:
    """Names of the live actors of every evaluation on the cluster (each finished one stopped its own)."""
    return [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith("leapscope:")]


def test_a_killed_driver_resumes_with_each_sample_once(cluster: str, make_integration, tmp_path: Path) -> None:
    folder = make_integration(features=SLOW_FEATURES, preprocess=MANY)
    ws = tmp_path / "ws"
    args = ["--chunk-size", "25", "--batch-size", "5"]
    cmd = [sys.executable, "-m", "leapscope", "evaluate", str(folder), "-w", str(ws), "--ray", cluster, *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    progress = None
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            found = list(ws.glob("runs/*/progress.json"))
            if found and len(json.loads(found[0].read_text() or '{"chunks": {}}')["chunks"]) >= 2:
                progress = found[0]
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver (and anything it started) dies at once
        _, stderr = proc.communicate()
    assert progress is not None, stderr.decode()[-3000:]
    run_id = progress.parent.name
    assert Workspace(ws).open_run(run_id).status == "running"
    assert len(json.loads(progress.read_text())["chunks"]) < 12  # killed mid-run
    deadline = time.time() + 30
    while _leapscope_actors() and time.time() < deadline:  # Ray stops the actors of a dead driver
        time.sleep(0.2)
    assert _leapscope_actors() == []

    run = ls.evaluate(folder, workspace=ws, ray=cluster, chunk_size=25, batch_size=5)
    assert run.id == run_id and run.status == "complete" and len(Workspace(ws).runs()) == 1
    assert_each_sample_once(run, {"training": 240, "validation": 60})
    assert sorted(map(int, run.samples["sample_id"].to_pylist())) == list(range(300))
    assert not np.isnan(run.latent()).any()


SECRET_FEATURES = """
if sample_id == 3:
    raise ValueError("cannot fetch with token " + ls.secret())
return subset.data['x'][sample_id]
"""
SECRET_METADATA = "    return {'odd': bool(sample_id % 2), 'token_ok': ls.secret() == '" + SECRET + "'}"


def test_secret_and_errors_behave_as_locally(cluster: str, make_integration, tmp_path: Path) -> None:
    folder = make_integration(features=SECRET_FEATURES, metadata=SECRET_METADATA)
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)
    ws = tmp_path / "ws"
    local = ls.evaluate(folder, workspace=ws, workers=1, secret_file=secret_file, chunk_size=8, batch_size=4)
    remote = ls.evaluate(folder, workspace=ws, ray=cluster, secret_file=secret_file, chunk_size=8, batch_size=4)
    assert_same_run(remote, local)
    errors = remote.errors.to_pylist()
    assert [e["sample_id"] for e in errors] == ["3"] and "token ***" in errors[0]["message"]
    assert SECRET not in json.dumps(errors)
    meta = remote.samples["info_token_ok"].to_pylist()
    assert meta.count(True) == 39 and meta[3] is None  # every actor read the secret; sample 3 failed
    assert os.environ.get("AUTH_SECRET") is None
    session = Path(ray._private.worker.global_worker.node.get_session_dir_path())
    leaked = [p for p in session.rglob("*") if p.is_file() and SECRET.encode() in _read(p)]
    assert leaked == []  # not in runtime_env, logs or any file Ray wrote


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


@pytest.mark.parametrize(
    ("target", "env", "message"),
    [
        ("nonsense", None, "not a Ray address; expected 'local', 'auto', HOST:PORT"),
        ("127.0.0.1:1", None, "cannot reach a Ray cluster at 127.0.0.1:1"),
        ("auto", "127.0.0.1:1", "evaluate\\(ray='auto'\\): cannot reach a Ray cluster at 127.0.0.1:1"),
    ],
)
def test_a_bad_address_is_a_clear_error(
    target: str, env: str | None, message: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if env:
        monkeypatch.setenv("RAY_ADDRESS", env)
    started = time.time()
    with pytest.raises(LeapscopeError, match=message):
        ls.evaluate(DIGITS, workspace=tmp_path, max_samples=3, ray=target)
    assert time.time() - started < 30
    assert Workspace(tmp_path).runs() == []  # refused before a run was claimed


def test_missing_ray_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as without the extra
    with pytest.raises(LeapscopeError, match=r"Ray is not installed.*pip install 'leapscope\[ray\]'"):
        ls.evaluate(DIGITS, workspace=tmp_path, max_samples=3, ray="local")


def test_cli_bad_address_exits_with_the_message(make_integration, tmp_path: Path) -> None:
    folder = make_integration()
    cmd = [sys.executable, "-m", "leapscope", "evaluate", str(folder), "-w", str(tmp_path / "ws")]
    result = subprocess.run(
        [*cmd, "--ray", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode != 0
    assert "cannot reach a Ray cluster at 127.0.0.1:1" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
