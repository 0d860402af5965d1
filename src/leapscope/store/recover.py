"""Rebuild a lost or damaged workspace catalog from its run folders.

    python -m leapscope.store.recover WORKSPACE

Each ``runs/<id>/manifest.json`` names the run's project, version, integration code
hash and config; ``samples.parquet`` gives its counts and summary. The damaged
catalog is kept as ``catalog.sqlite.broken-<time>``. What only the catalog held is
lost: saved threshold tests and their results, dependency versions, timings. A
version's model hash is recomputed from the model file when it still exists (so a
later evaluation of the same model reuses the version); otherwise it is marked
``recovered``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from leapscope.exceptions import LeapscopeError, StoreError
from leapscope.store._catalog import Catalog, run_folders
from leapscope.store._files import read_json_file
from leapscope.store._run import summarize
from leapscope.store._schema import COMMIT_FILE, MANIFEST_FILE, PARTS_DIR, SAMPLES_FILE

__all__ = ["main", "rebuild_catalog"]


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _created_at(run_dir: Path) -> float:
    try:
        return time.mktime(time.strptime(run_dir.name[:15], "%Y%m%d-%H%M%S"))
    except ValueError:
        return (run_dir / MANIFEST_FILE).stat().st_mtime


def _counts(samples: Path, manifest: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    summary = summarize(samples)
    counts = {
        "samples": sum(s["samples"] for s in summary.values()),
        "failed": sum(s["failed"] for s in summary.values()),
        "subsets": {name: s["samples"] for name, s in summary.items()},
    }
    return counts, summary


def rebuild_catalog(workspace: str | Path) -> list[tuple[str, str]]:
    """Write a new ``catalog.sqlite`` for ``workspace`` from its run folders.

    Returns ``[(run_id, status or "skipped: reason"), ...]``. A run whose merged files
    are complete is ``complete``; one that stopped before is ``running`` (the same
    ``evaluate`` command resumes it when model and code are unchanged).
    Raises :class:`StoreError` when there is no run folder to recover from.
    """
    ws = Path(workspace).expanduser().resolve()
    folders = sorted(run_folders(ws / "runs"), key=_created_at)
    if not folders:
        raise StoreError(f"no run folders (runs/<id>/manifest.json) in {ws}; nothing to rebuild the catalog from")
    path = ws / "catalog.sqlite"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in ("", "-wal", "-shm"):
        old = ws / f"catalog.sqlite{suffix}"
        if old.exists():
            old.rename(ws / f"catalog.sqlite.broken-{stamp}{suffix}")
    catalog = Catalog(path, allow_orphan_runs=True)
    results: list[tuple[str, str]] = []
    for run_dir in folders:
        try:
            manifest = read_json_file(run_dir / MANIFEST_FILE, "")
            project_name, version_name = str(manifest["project"]), str(manifest["version"])
            source = Path(str(manifest.get("model", {}).get("source", "")))
            model_hash = _file_hash(source) if source.is_file() else "recovered"
            code_hash = str(manifest.get("integration", {}).get("code_hash", "recovered"))
            samples = run_dir / SAMPLES_FILE
            done = samples.exists() and ((run_dir / COMMIT_FILE).exists() or not (run_dir / PARTS_DIR).exists())
            counts, summary = _counts(samples, manifest) if done else ({}, {})
            version = catalog.version(
                catalog.project(project_name), model_hash=model_hash, code_hash=code_hash, name=version_name
            )
            catalog.create_run(run_dir.name, version, dict(manifest.get("config", {})), {}, 0)
            with catalog.connect() as db:
                db.execute(
                    "UPDATE runs SET created_at = ?, pid = NULL WHERE id = ?", (_created_at(run_dir), run_dir.name)
                )
            if done:
                status = "failed" if counts["samples"] and counts["failed"] == counts["samples"] else "complete"
                catalog.update_run(
                    run_dir.name, status=status, counts=counts, summary=summary, finished_at=samples.stat().st_mtime
                )
                results.append((run_dir.name, status))
            else:
                results.append((run_dir.name, "running"))
        except (LeapscopeError, KeyError, TypeError, ValueError) as exc:
            results.append((run_dir.name, f"skipped: {type(exc).__name__}: {exc}"))
    return results


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m leapscope.store.recover WORKSPACE``; prints one line per run."""
    parser = argparse.ArgumentParser(prog="python -m leapscope.store.recover", description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    args = parser.parse_args(argv)
    try:
        results = rebuild_catalog(args.workspace)
    except LeapscopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for run_id, status in results:
        print(f"{run_id}  {status}")
    print(
        json.dumps(
            {
                "recovered": sum(not s.startswith("skipped") for _, s in results),
                "skipped": sum(s.startswith("skipped") for _, s in results),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
