"""Print the OpenAPI schema of the /api/v1 routes: ``python -m leapscope.server._openapi > web/openapi.json``.

The web app's TypeScript types are generated from it (``cd web && npm run gen:api``), and
``npm run check:api`` / ``tests/server/test_openapi.py`` fail when either file drifts from the
routers' models. The output is deterministic: sorted keys, 2-space indent, a final newline.
"""

from __future__ import annotations

import json
import sys
import tempfile
from typing import Any

__all__ = ["openapi_json", "openapi_schema"]


def openapi_schema() -> dict[str, Any]:
    """The schema of an app over an empty temporary workspace (the schema does not depend on the workspace)."""
    from leapscope.server._app import create_app

    with tempfile.TemporaryDirectory(prefix="leapscope-openapi-") as folder:
        app = create_app(folder, warm=False, serve_ui=False)
        try:
            return app.openapi()
        finally:
            app.state.leapscope.shutdown()


def openapi_json() -> str:
    """:func:`openapi_schema` as the text written to ``web/openapi.json``."""
    return json.dumps(openapi_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(openapi_json())
