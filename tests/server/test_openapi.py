"""The HTTP contract: every route declares its models, and the checked-in schema has not drifted."""

from __future__ import annotations

from pathlib import Path

from leapscope.server._openapi import openapi_json, openapi_schema

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_openapi_json_matches_the_routers() -> None:
    """web/openapi.json (the source of web/src/generated/api.d.ts) is what the routers' models produce now."""
    checked_in = (ROOT / "web" / "openapi.json").read_text()
    assert openapi_json() == checked_in, (
        "web/openapi.json is out of date: run `cd web && npm run gen:api` and commit it"
    )


def test_every_route_declares_its_response_and_problem_models() -> None:
    paths = openapi_schema()["paths"]
    assert sum(len(operations) for operations in paths.values()) >= 20
    for route, operations in paths.items():
        for method, op in operations.items():
            success = next(code for code in op["responses"] if code.startswith("2"))
            content = op["responses"][success].get("content", {})
            schema = content.get("application/json", {}).get("schema", {})
            assert "$ref" in schema, f"{method.upper()} {route}: no response model for {success}"
            for code in ("400", "404", "500"):
                problem = op["responses"][code]["content"]["application/json"]["schema"]
                assert problem == {"$ref": "#/components/schemas/Problem"}, (
                    f"{method.upper()} {route}: {code} is not a Problem"
                )
            if method == "post" and "requestBody" in op:
                assert "$ref" in op["requestBody"]["content"]["application/json"]["schema"]
