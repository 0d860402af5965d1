"""The envelopes and errors of the HTTP contract, and documented-only shapes (see ``server/_schemas.py``).

:class:`Data` (``{"data": ...}``) wraps every JSON answer, :class:`Page` every page of a list,
:class:`Problem` every error. :func:`documented` gives a field the schema of a model while
passing its value through unvalidated (for shapes read back from run files).
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.json_schema import models_json_schema

__all__ = [
    "PROBLEM_RESPONSES",
    "Cell",
    "Data",
    "Loose",
    "Page",
    "Problem",
    "Record",
    "add_documented_schemas",
    "documented",
]

T = TypeVar("T")

_DOCUMENTED: list[type[BaseModel]] = []


def documented(model: type[BaseModel]) -> Any:
    """A field type whose schema is ``model``'s but whose value is passed through unvalidated.

    For data read back from run files (see the module docstring). ``model`` is added to the
    OpenAPI components by :func:`add_documented_schemas`.
    """
    if model not in _DOCUMENTED:
        _DOCUMENTED.append(model)
    return Annotated[Any, WithJsonSchema({"$ref": f"#/components/schemas/{model.__name__}"})]


def add_documented_schemas(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add the schemas of the :func:`documented` models (and their sub-models) to an OpenAPI dict, in place."""
    _, defs = models_json_schema([(m, "validation") for m in _DOCUMENTED], ref_template="#/components/schemas/{model}")
    schemas = defs.get("$defs", {})
    for (
        schema
    ) in schemas.values():  # never validated, so no defaults: a field not required is optional (`name?:` in TypeScript)
        for prop in schema.get("properties", {}).values():
            prop.pop("default", None)
    openapi.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
    return openapi


# a JSON scalar as it comes from a table cell: passed through, documented as string | number | boolean | null
Cell = Annotated[Any, WithJsonSchema({"type": ["string", "number", "boolean", "null"]})]
Record = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "null"]}}),
]


class Loose(BaseModel):
    """A documented shape read from a file: every field optional, unknown fields allowed."""

    model_config = ConfigDict(extra="allow")


# ---------------------------------------------------------------------------------------- envelopes


class Data(BaseModel, Generic[T]):
    """``{"data": ...}``: the envelope of every JSON answer."""

    data: T


class Page(BaseModel, Generic[T]):
    """``{"data": [...], "total": ..., "next_offset": ...}``: one page of a list.

    ``total`` counts every match; ``next_offset`` is the ``offset`` of the next page, null on the last one.
    """

    data: list[T]
    total: int
    next_offset: int | None


class Problem(BaseModel):
    """An error (``application/problem+json``); ``status`` repeats the HTTP status, ``title`` names its class."""

    title: str = Field(examples=["Not found"])
    detail: str = Field(description="what went wrong, naming the argument and the fix")
    status: int = Field(examples=[404])


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Bad request (a LeapscopeError)"},
    404: {"model": Problem, "description": "Not found (no such run, project, sample, job or latent space)"},
    409: {"model": Problem, "description": "Unavailable (the run or store is not in the needed state)"},
    500: {"model": Problem, "description": "Internal or worker error"},
    503: {"model": Problem, "description": "Storage unreadable (a damaged workspace file)"},
}
