"""Filter payload corpus: nothing in a filter string may ever run as code or SQL.

Every payload must be refused (``FilterError`` in Python, exit 2 in the CLI, 422 over HTTP) and
must not create its canary file — through ``parse_filter``, ``runs.run_test``,
``runs.aggregate(where=)``, ``leapscope test --filter`` in a subprocess, ``POST
/projects/{p}/tests``, ``GET /runs/{id}/samples?where=`` and a test stored before filters were
parsed (which must be reported as failing, never executed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from leapscope import runs
from leapscope.server import create_app
from leapscope.store import FilterError, Workspace, parse_filter

LEAPSCOPE = Path(sys.executable).parent / "leapscope"

# {canary} is replaced by a path that must never be created.
PAYLOADS = [
    # pandas query / eval: `@` locals, dunder access, attribute chains, calls
    "@np.testing._private.utils.os.system('touch {canary}') == 0",
    "subset.__class__.__init__.__globals__['sys'].modules['os'].system('touch {canary}') == 0",
    "@np.float64(@run.dir.joinpath('/etc/hostname').read_text()) > 0",
    "@pd.io.common.os.system('touch {canary}') == 0",
    "__import__('os').system('touch {canary}') == 0",
    "digit_label == __import__('os').system('touch {canary}')",
    "row == @__builtins__",
    "__builtins__ == 1",
    "__class__ in [1]",
    "digit_label.str.len() > 0",
    "digit_label.__len__() == 1",
    "row.__class__.__bases__[0].__subclasses__() == 1",
    "os.system('touch {canary}') == 0",
    "exec(\"open('{canary}', 'w')\") == 0",
    "eval('1') == 1",
    "open('{canary}', 'w') == 0",
    "(lambda: __import__('os').system('touch {canary}'))() == 0",
    "[c for c in ().__class__.__mro__] == 1",
    "`digit_label` == '8'",
    "`digit_label`.__class__ == 1",
    "digit_label == '8' or __import__('os').system('touch {canary}') == 0",
    "digit_label == '8' | __import__('os').system('touch {canary}') == 0",
    "digit_label == '8' & row > 0",
    "digit_label == '8' && row > 0",
    "not row == 1",
    "~row == 1",
    "row == row",
    "1 == 1",
    "row == {{}}",
    # SQL: quotes, `;`, table functions, UNION, subqueries, comments
    "digit_label == '8' OR 1=1",
    "digit_label == '8'' OR ''1''=''1'",
    "digit_label == '8'; COPY (SELECT 1) TO '{canary}'",
    'digit_label == "8"; DROP TABLE samples',
    "row > 0; SELECT * FROM read_csv('/etc/passwd')",
    "row > (SELECT count(*) FROM read_csv_auto('/etc/passwd'))",
    "read_csv('/etc/passwd') == 1",
    "row > 0 UNION SELECT * FROM read_parquet('catalog.sqlite')",
    "row IN (SELECT 1)",
    "row in [(SELECT 1)]",
    "row == 1 -- comment",
    "row == 1 /* comment */",
    "row /* c */ == 1",
    "row == getvariable('x')",
    '"row" == 1',
    "row == 1 AND \"digit_label\" = '8'",
    # unicode tricks: look-alike letters, fullwidth, zero-width, bidi, NUL, non-breaking space
    "\uff3f\uff3fimport\uff3f\uff3f('os').system('touch {canary}') == 0",
    "digit\u200b_label == '8'",
    "digit_lab\u0435l == '8'",
    "\u202edigit_label == '8'",
    "digit_label == '8'\x00; COPY (SELECT 1) TO '{canary}'",
    "digit_label\u00a0== '8'",
    "row\uff1d\uff1d1",
    "digit_label == '8\n' or 1",
    # very long strings
    'digit_label == "' + "A" * 100_000 + '"',
    "row > 0" + " and row > 0" * 1000,
    "(" * 5000 + "row == 1" + ")" * 5000,
    # unknown columns (refused once the run's columns are known)
    "nope == 1",
    "pwned == 'touch {canary}'",
]


def _payloads(canary: Path) -> list[str]:
    return _payloads_of(PAYLOADS, canary)


def _payloads_of(payloads: list[str], canary: Path) -> list[str]:
    return [p.replace("{canary}", str(canary)) for p in payloads]


@pytest.fixture(scope="module")
def workspace(digits_workspace, tmp_path_factory) -> tuple[Path, str]:
    """A private copy of the digits workspace (saved tests here do not leak into other modules)."""
    source, run_id = digits_workspace
    path = tmp_path_factory.mktemp("filter-payloads") / "ws"
    shutil.copytree(source, path)
    return path, run_id


@pytest.fixture
def canary(tmp_path) -> Path:
    path = tmp_path / "pwned.txt"
    yield path
    assert not path.exists(), f"a filter payload ran code: {path} was created"


@pytest.fixture(scope="module")
def client(workspace):
    with TestClient(create_app(workspace[0], warm=False), base_url="http://127.0.0.1:8765") as c:
        yield c


def test_corpus_is_refused_by_the_parser_and_the_python_api(workspace, canary, monkeypatch):
    path, run_id = workspace
    monkeypatch.chdir(canary.parent)  # a relative write would land next to the canary
    run = Workspace(path).open_run(run_id)
    for payload in _payloads(canary):
        with pytest.raises(FilterError):
            parse_filter(payload, run.samples.schema)
        with pytest.raises(FilterError):
            runs.run_test(run, runs.ThresholdTest(metric="metric_accuracy", filter=payload, min=0.0))
        with pytest.raises(FilterError):
            runs.aggregate(run, "metric_accuracy", by=["subset"], where=payload)
        assert not canary.exists(), payload
    assert list(canary.parent.iterdir()) == []


def test_syntax_is_refused_before_any_column_is_known(canary):
    """Without a run (saving a test for a project with no complete run), only syntax is checked."""
    refused = [p for p in _payloads(canary) if not p.startswith(("nope ", "pwned "))]
    for payload in refused:
        with pytest.raises(FilterError):
            parse_filter(payload)


def test_a_quoted_literal_is_a_bound_value_not_sql(workspace):
    """A string literal full of SQL is data: it matches no row and runs nothing."""
    path, run_id = workspace
    run = Workspace(path).open_run(run_id)
    for text in [
        'digit_label == "8\\" or 1=1 or \\""',
        "digit_label == '8'' or ''1''=''1'".replace("''", "\\'"),
        'digit_label == "\'; DROP TABLE samples; --"',
    ]:
        frame = runs.aggregate(run, "metric_accuracy", where=text)
        assert int(frame.n[0]) == 0, text
        assert not parse_filter(text, run.samples.schema).mask(run.samples).any()


def test_corpus_is_refused_over_http(client, workspace, canary):
    _, run_id = workspace
    for payload in _payloads(canary):
        body = {"name": "payload", "metric": "metric_accuracy", "filter": payload, "min": 0.0}
        saved = client.post("/api/v1/projects/digits/tests", json=body)
        assert saved.status_code == 422, (payload[:80], saved.status_code, saved.text[:300])
        assert len(saved.content) < 5000  # a short reason, not an echo of a long payload
        if len(payload) < 8000:  # longer ones do not fit in a URL
            page = client.get(f"/api/v1/runs/{run_id}/samples", params={"where": [payload]})
            assert page.status_code == 422, (payload[:80], page.status_code, page.text[:300])
        assert not canary.exists(), payload
    tests = client.get("/api/v1/projects/digits/tests").json()["data"]
    assert all(t["name"] != "payload" for t in tests)
    assert client.get(f"/api/v1/runs/{run_id}/tests").status_code == 200
    assert not canary.exists()


CLI_PAYLOADS = [  # one of each family: pandas @ locals, dunder chain, SQL COPY, fullwidth unicode, very long
    PAYLOADS[0],
    PAYLOADS[1],
    next(p for p in PAYLOADS if "COPY" in p),
    next(p for p in PAYLOADS if p.startswith("\uff3f")),
    next(p for p in PAYLOADS if len(p) > 50_000),
]


@pytest.mark.slow
def test_corpus_is_refused_by_the_cli(workspace, canary):
    path, run_id = workspace
    for payload in _payloads_of(CLI_PAYLOADS, canary):
        proc = subprocess.run(
            [
                str(LEAPSCOPE),
                "test",
                run_id,
                "--metric",
                "metric_accuracy",
                "--filter",
                payload,
                "--min",
                "0",
                "--workspace",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=canary.parent,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert proc.returncode == 2, (payload[:80], proc.returncode, proc.stdout[-500:], proc.stderr[-500:])
        assert "filter" in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
        assert not canary.exists(), payload


def test_a_test_saved_before_the_fix_fails_with_the_parse_error_and_never_runs(client, workspace, canary):
    path, run_id = workspace
    ws = Workspace(path)
    project = ws.catalog.project("digits", create=False)
    legacy = {
        "metric": "metric_accuracy",
        "filter": f"@np.testing._private.utils.os.system('touch {canary}') == 0",
        "min": 0.0,
        "max": None,
        "name": "legacy-pwn",
    }
    nan_bound = {"metric": "metric_accuracy", "filter": None, "min": float("nan"), "max": None, "name": "legacy-nan"}
    with ws.catalog.connect() as db:  # written as the unfixed code stored them
        for spec in (legacy, nan_bound):
            db.execute(
                "INSERT INTO tests (project_id, name, spec) VALUES (?, ?, ?)",
                (project.id, spec["name"], json.dumps(spec)),
            )
    results = client.get(f"/api/v1/runs/{run_id}/tests")
    assert results.status_code == 200
    by_name = {r["test"]["name"]: r for r in results.json()["data"]}
    assert by_name["legacy-pwn"]["passed"] is False and "unexpected character '@'" in by_name["legacy-pwn"]["detail"]
    assert by_name["legacy-nan"]["passed"] is False and "finite" in by_name["legacy-nan"]["detail"]
    listed = client.get("/api/v1/projects/digits/tests")
    assert listed.status_code == 200 and {"legacy-pwn", "legacy-nan"} <= {t["name"] for t in listed.json()["data"]}
    # the same through the Python API used by `evaluate`
    results_py = {r.test.name: r for r in runs.run_saved_tests(ws, ws.open_run(run_id))}
    assert results_py["legacy-pwn"].passed is False
    assert not canary.exists()
    with ws.catalog.connect() as db:
        db.execute("DELETE FROM test_results WHERE test_id IN (SELECT id FROM tests WHERE name LIKE 'legacy-%')")
        db.execute("DELETE FROM tests WHERE name LIKE 'legacy-%'")


def test_saved_test_bodies_are_bounded(client, workspace):
    """Item 5: an unknown project is not created, huge names are not stored, NaN/inf bounds are refused."""
    good = {"name": "bounded", "metric": "metric_accuracy", "filter": 'digit_label == "8"', "min": 0.5}
    ghost = client.post("/api/v1/projects/ghost/tests", json=good)
    assert ghost.status_code == 404 and "no project 'ghost'" in ghost.json()["detail"]
    assert client.get("/api/v1/projects/ghost/tests").status_code == 404
    assert "ghost" not in {p["name"] for p in client.get("/api/v1/projects").json()["data"]}
    for name in ("n" * 5_000_000, "n" * 100_000, "n" * 201, "", "   "):
        response = client.post("/api/v1/projects/digits/tests", json={**good, "name": name})
        assert response.status_code in (413, 422), (len(name), response.status_code)
        assert len(response.content) < 5000
    for raw in (b"NaN", b"Infinity", b"-Infinity", b"1e999"):
        for field in (b"min", b"max"):
            body = b'{"name": "nan", "metric": "metric_accuracy", "' + field + b'": ' + raw + b"}"
            response = client.post(
                "/api/v1/projects/digits/tests", content=body, headers={"content-type": "application/json"}
            )
            assert response.status_code == 422 and "finite" in response.json()["detail"], (
                raw,
                field,
                response.text[:200],
            )
    assert client.post("/api/v1/projects/digits/tests", json={**good, "min": 0.9, "max": 0.1}).status_code == 422
    assert client.post("/api/v1/projects/digits/tests", json={**good, "metric": "metric_nope"}).status_code == 422
    assert client.post("/api/v1/projects/digits/tests", json={**good, "filter": "x" * 3000}).status_code == 422
    names = {t["name"] for t in client.get("/api/v1/projects/digits/tests").json()["data"]}
    assert "nan" not in names and not any(len(n) > 200 for n in names)
    assert client.post("/api/v1/projects/digits/tests", json=good).status_code == 200
    saved = {t["name"]: t for t in client.get("/api/v1/projects/digits/tests").json()["data"]}
    assert saved["bounded"]["filter"] == 'digit_label == "8"' and saved["bounded"]["min"] == 0.5
