from __future__ import annotations

import pytest

import leapscope as ls
from leapscope.exceptions import IntegrationError
from leapscope.sdk._runtime import redact


def test_cache_dir_is_persistent_and_configurable(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAPSCOPE_CACHE_DIR", str(tmp_path))
    path = ls.cache_dir("digits")
    assert path == tmp_path / "digits" and path.is_dir()
    (path / "x").write_text("kept")
    assert (ls.cache_dir("digits") / "x").read_text() == "kept"


def test_secret_and_redaction(monkeypatch):
    monkeypatch.delenv("AUTH_SECRET", raising=False)
    with pytest.raises(IntegrationError, match="--secret-file"):
        ls.secret()
    monkeypatch.setenv("AUTH_SECRET", "hunter2-token")
    assert ls.secret() == "hunter2-token"
    assert redact("bad token hunter2-token here") == "bad token *** here"
