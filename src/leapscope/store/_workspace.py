"""A workspace: a folder with ``catalog.sqlite`` and ``runs/<run_id>/``."""

from __future__ import annotations

import os
from pathlib import Path

from leapscope.store._catalog import Catalog
from leapscope.store._run import Run, check_run_id

__all__ = ["WORKSPACE_ENV", "Workspace", "default_workspace"]

WORKSPACE_ENV = "LEAPSCOPE_WORKSPACE"


def default_workspace() -> Path:
    """``$LEAPSCOPE_WORKSPACE`` or ``~/.leapscope``."""
    return Path(os.environ.get(WORKSPACE_ENV) or Path.home() / ".leapscope")


class Workspace:
    """Opens (creating if needed) the workspace at ``path`` and its catalog."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path).expanduser().resolve() if path else default_workspace().resolve()
        self.path.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog(self.path / "catalog.sqlite")

    def __repr__(self) -> str:
        return f"<Workspace {self.path}>"

    def run_dir(self, run_id: str) -> Path:
        return self.path / "runs" / check_run_id(run_id)

    def open_run(self, run_id: str) -> Run:
        """The run with this id (or unique id prefix). Raises ``RunNotFoundError``."""
        row = self.catalog.run(check_run_id(run_id))
        return Run(self.run_dir(row.id), row)

    def runs(self, project: str | None = None) -> list[Run]:
        return [Run(self.run_dir(r.id), r) for r in self.catalog.runs(project)]
