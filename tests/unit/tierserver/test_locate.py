"""A missing or corrupt model stops the server with the command that fixes it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from codecascade.tierserver.catalog import ModelSpec
from codecascade.tierserver.errors import ModelFileError, UnknownModel
from codecascade.tierserver.locate import default_cache_dir, resolve_model

DATA = b"GGUF" + b"x" * 100
SPEC = ModelSpec("T", "test", "t.gguf", len(DATA), hashlib.sha256(DATA).hexdigest(), ())
CATALOG = {"T": SPEC}


def test_missing_embedded_model_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"run `cascade models fetch T --cache-dir"):
        resolve_model("T", tmp_path, catalog=CATALOG)


def test_truncated_and_corrupt_files(tmp_path: Path) -> None:
    (tmp_path / "t.gguf").write_bytes(DATA[:-1])
    with pytest.raises(ModelFileError, match=r"bytes, expected .* --force"):
        resolve_model("T", tmp_path, catalog=CATALOG)
    (tmp_path / "t.gguf").write_bytes(DATA[:-1] + b"y")
    with pytest.raises(ModelFileError, match=r"sha256 .* --force"):
        resolve_model("T", tmp_path, catalog=CATALOG)
    assert resolve_model("T", tmp_path, catalog=CATALOG, verify_sha256=False).spec == SPEC


def test_any_gguf_path(tmp_path: Path) -> None:
    model = tmp_path / "mine.gguf"
    model.write_bytes(DATA)
    resolved = resolve_model(str(model), tmp_path, catalog=CATALOG)
    assert (resolved.path, resolved.spec, resolved.name) == (model, None, "mine")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        resolve_model(str(tmp_path / "notes.txt"), tmp_path, catalog=CATALOG)
    with pytest.raises(UnknownModel, match="neither"):
        resolve_model(str(tmp_path / "absent.gguf"), tmp_path, catalog=CATALOG)


def test_default_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "codecascade" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "codecascade" / "models"
