"""The rows the catalog returns: projects, versions, runs, saved tests and their results (JSON columns decoded)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ProjectRow", "RunRow", "TestResultRow", "TestRow", "VersionRow"]


@dataclass(frozen=True)
class ProjectRow:
    id: int
    name: str
    created_at: float


@dataclass(frozen=True)
class VersionRow:
    id: int
    project_id: int
    name: str
    model_hash: str
    code_hash: str
    created_at: float


@dataclass(frozen=True)
class RunRow:
    """One run as stored in the catalog (JSON columns decoded)."""

    id: str
    version_id: int
    status: str
    config: dict[str, Any]
    created_at: float
    finished_at: float | None
    seconds: float | None
    counts: dict[str, Any] | None
    summary: dict[str, Any] | None
    dependencies: dict[str, Any] | None
    error: str | None
    pid: int | None
    project: str = ""
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class TestRow:
    """A threshold test saved for a project: its id, name and spec (the JSON object it was saved with)."""

    __test__ = False  # not a pytest class

    id: int
    name: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class TestResultRow:
    """The stored outcome of one saved test on one run."""

    __test__ = False

    run_id: str
    test_id: int
    passed: bool
    value: float | None
    detail: str | None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}
