"""One version source: pyproject.toml's ``version``; the package and the web app agree with it."""

from __future__ import annotations

import json
import tomllib

import leapscope as ls
from tests.conftest import REPO


def _pyproject_version() -> str:
    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])


def test_package_version_is_read_from_the_installed_metadata():
    assert ls.__version__ == _pyproject_version()


def test_web_app_version_equals_pyproject():
    expected = _pyproject_version()
    package = json.loads((REPO / "web" / "package.json").read_text())
    lock = json.loads((REPO / "web" / "package-lock.json").read_text())
    found = {
        "web/package.json": package["version"],
        "web/package-lock.json": lock["version"],
        "web/package-lock.json packages['']": lock["packages"][""]["version"],
    }
    wrong = {where: v for where, v in found.items() if v != expected}
    assert not wrong, f"set these to pyproject.toml's version {expected!r}: {wrong}"
