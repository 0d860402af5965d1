"""A workspace: a folder with ``catalog.sqlite`` and ``runs/<run_id>/``."""

from __future__ import annotations

import os
from pathlib import Path

from leapscope.exceptions import StoreError
from leapscope.store._catalog import Catalog
from leapscope.store._run import RUN_ID, Run, check_run_id

__all__ = ["WORKSPACE_ENV", "Workspace", "default_workspace"]

WORKSPACE_ENV = "LEAPSCOPE_WORKSPACE"
CATALOG_FILE = "catalog.sqlite"


def default_workspace() -> Path:
    """``$LEAPSCOPE_WORKSPACE`` or ``~/.leapscope``."""
    return Path(os.environ.get(WORKSPACE_ENV) or Path.home() / ".leapscope")


class Workspace:
    """Opens the workspace at ``path`` and its catalog.

    Parameters
    ----------
    path : str or Path, optional
        The folder (default :func:`default_workspace`).
    create : bool
        Create the folder when it does not exist (evaluate, serve). Read-only callers pass
        ``False`` so that a mistyped path is refused instead of becoming an empty workspace.

    Raises
    ------
    StoreError
        The path is a file, cannot be created, or (``create=False``) holds no workspace.
    """

    def __init__(self, path: str | Path | None = None, *, create: bool = True):
        self.path = Path(path).expanduser().resolve() if path else default_workspace().resolve()
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(
                f"workspace {self.path} is a file, not a folder; fix: pass --workspace a folder (new or existing)"
            )
        if not create and not (self.path / CATALOG_FILE).exists() and not (self.path / "runs").is_dir():
            raise StoreError(
                f"no workspace at {self.path}; fix: check the --workspace path "
                "(a workspace is made by `leapscope evaluate PATH --workspace DIR`)"
            )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create workspace {self.path}: {exc.strerror}; fix: choose a writable folder"
            ) from exc
        self.catalog = Catalog(self.path / CATALOG_FILE)

    def __repr__(self) -> str:
        return f"<Workspace {self.path}>"

    def run_dir(self, run_id: str) -> Path:
        return self.path / "runs" / check_run_id(run_id)

    def open_run(self, run_id: str) -> Run:
        """The run with this id (or unique id prefix). Raises ``RunNotFoundError``."""
        row = self.catalog.run(check_run_id(run_id))
        return Run(self.run_dir(row.id), row)

    def runs(self, project: str | None = None) -> list[Run]:
        """Every run (of ``project``), oldest first. A catalog entry whose id could not name a run folder
        (``../x``: an edited catalog) is left out; one with damaged JSON columns is listed with status
        ``"damaged"`` (:meth:`Catalog.runs`)."""
        return [
            Run(self.path / "runs" / r.id, r)
            for r in self.catalog.runs(project)
            if isinstance(r.id, str) and RUN_ID.match(r.id)
        ]
