"""Turning `--model S|M|L|PATH` into a verified GGUF file, or a message that says what to run.

A tier server that started on a missing or truncated model would only fail on the first request
(or, worse, load garbage); checking here makes it stop at start with the fix in the message.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from codecascade.tierserver.catalog import ModelSpec, embedded_models
from codecascade.tierserver.errors import ModelFileError, UnknownModel

__all__ = ["ResolvedModel", "default_cache_dir", "file_sha256", "resolve_model"]

_GGUF_MAGIC = b"GGUF"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ResolvedModel:
    """The file to load, and the catalog entry it came from (None for a user-supplied path)."""

    path: Path
    spec: ModelSpec | None

    @property
    def name(self) -> str:
        return self.spec.name if self.spec is not None else self.path.stem


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/codecascade/models`, falling back to `~/.cache/codecascade/models`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "codecascade" / "models"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch_hint(name: str, cache_dir: Path) -> str:
    return f"run `cascade models fetch {name} --cache-dir {cache_dir}`"


def _check_embedded(spec: ModelSpec, cache_dir: Path, verify_sha256: bool) -> Path:
    path = cache_dir / spec.filename
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelFileError(
            f"model {spec.name} ({spec.title}) is not in {cache_dir}; "
            f"{_fetch_hint(spec.name, cache_dir)}"
        ) from None
    if size != spec.size_bytes:
        raise ModelFileError(
            f"model file {path} is {size} bytes, expected {spec.size_bytes}; "
            f"{_fetch_hint(spec.name, cache_dir)} --force"
        )
    if verify_sha256:
        digest = file_sha256(path)
        if digest != spec.sha256:
            raise ModelFileError(
                f"model file {path} has sha256 {digest}, expected {spec.sha256}; "
                f"{_fetch_hint(spec.name, cache_dir)} --force"
            )
    return path


def _check_gguf(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(_GGUF_MAGIC))
    except IsADirectoryError:
        raise ModelFileError(f"model path {path} is a directory, not a GGUF file") from None
    except PermissionError:
        raise ModelFileError(f"model file {path} is not readable") from None
    if magic != _GGUF_MAGIC:
        raise ModelFileError(f"model file {path} is not a GGUF file (magic {magic!r})")


def resolve_model(
    model: str,
    cache_dir: Path,
    *,
    verify_sha256: bool = True,
    catalog: Mapping[str, ModelSpec] | None = None,
) -> ResolvedModel:
    """Checks that `model` (a catalog name or a GGUF path) is ready to load."""
    catalog = embedded_models() if catalog is None else catalog
    spec = catalog.get(model.upper())
    if spec is not None:
        return ResolvedModel(_check_embedded(spec, cache_dir, verify_sha256), spec)
    path = Path(model).expanduser()
    if not path.exists():
        raise UnknownModel(
            f"model {model!r} is neither one of {', '.join(catalog)} nor an existing GGUF file"
        )
    _check_gguf(path)
    return ResolvedModel(path.resolve(), None)
