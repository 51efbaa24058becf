"""The two Dockerfiles, statically: no Docker engine runs here, so what can be checked without
building is checked (pinned bases, non-root fixed UID, hash-checked installs, existing COPY
sources that the .dockerignore lets through, the `cascade serve` entry point, no model baked in).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from .conftest import ROOT

DOCKER = ROOT / "docker"
IMAGES = {"mesh": DOCKER / "mesh.Dockerfile", "tier": DOCKER / "tier.Dockerfile"}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, f"{path.name} ends inside a continuation"
    return out


def stages(path: Path) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = [[]]
    for inst in instructions(path):
        if inst[0] == "FROM":
            result.append([])
        result[-1].append(inst)
    return result  # result[0]: the global ARGs before the first FROM


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_base_image_is_pinned(image: str) -> None:
    global_args = dict(a.split("=", 1) for k, a in stages(IMAGES[image])[0] if k == "ARG")
    base = global_args["BASE_IMAGE"]
    assert re.fullmatch(r"debian:bookworm-\d{8}-slim(@sha256:[0-9a-f]{64})?", base), base
    assert re.fullmatch(r"\d[\w.+~-]+", global_args["PYTHON_DEB_VERSION"])
    for stage in stages(IMAGES[image])[1:]:
        assert stage[0][1].split()[0] == "${BASE_IMAGE}", stage[0]
    assert "latest" not in IMAGES[image].read_text()


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_final_stage_is_non_root_and_runs_cascade_serve(image: str) -> None:
    final = stages(IMAGES[image])[-1]
    users = [a for k, a in final if k == "USER"]
    assert users == ["10001:10001"], users
    entry = [a for k, a in final if k == "ENTRYPOINT"]
    assert len(entry) == 1
    argv = json.loads(entry[0])
    assert argv[:2] == ["cascade", "serve"]
    if image == "tier":
        assert argv == ["cascade", "serve", "tier"]
    runs = " ".join(a for k, a in final if k == "RUN")
    assert "useradd --system --uid 10001 --gid 10001" in runs
    assert "pip install" not in runs, "the final stage installs nothing from PyPI"
    assert any(k == "COPY" and "--from=build" in a for k, a in final)


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_installs_are_hash_checked_and_no_model_is_baked_in(image: str) -> None:
    text = IMAGES[image].read_text()
    for kind, args in instructions(IMAGES[image]):
        if kind != "RUN":
            continue
        for command in args.split("&&"):
            words = shlex.split(command.strip())
            if "pip" in " ".join(words[:1]) and words[1:2] == ["install"]:
                assert "--require-hashes" in words or "--no-index" in words, command
    assert ".gguf" not in text and "models fetch" not in text
    assert not re.search(r"(?m)^COPY\s+(?!--from)\S*models", text)


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_copy_sources_exist_and_pass_the_dockerignore(image: str) -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert next(line for line in ignore if not line.startswith("#")) == "*"
    allowed = [line[1:].rstrip("/") for line in ignore if line.startswith("!")]
    for kind, args in instructions(IMAGES[image]):
        if kind != "COPY" or args.startswith("--from"):
            continue
        *sources, _dest = shlex.split(args)
        for source in sources:
            assert (ROOT / source).exists(), f"{image}: COPY {source} does not exist"
            assert any(Path(source).match(pattern) or source == pattern for pattern in allowed), (
                f"{image}: .dockerignore keeps {source} out of the build context"
            )


@pytest.mark.parametrize("name", ["mesh", "tier", "build"])
def test_locks_pin_and_hash_every_requirement(name: str) -> None:
    lock = (DOCKER / f"requirements-{name}.txt").read_text()
    blocks = re.findall(
        r"(?m)^([A-Za-z0-9_.\[\]-]+)==(\S+) \\\n((?:    --hash=sha256:[0-9a-f]{64}.*\n)+)", lock
    )
    names = {b[0] for b in blocks}
    lines = [line for line in lock.splitlines() if re.match(r"^[A-Za-z0-9]", line)]
    assert len(lines) == len(blocks), "a requirement without a pin or hash"
    for line in (DOCKER / f"{name}.in").read_text().splitlines():
        if line and not line.startswith("#"):
            req = re.split(r"[=<>\[]", line, maxsplit=1)[0].lower()
            assert req in names, f"{req} from {name}.in is not in the lock"
            if "==" in line:
                version = line.split("==")[1]
                assert (req, version) in {(b[0], b[1]) for b in blocks}, line
    if name == "mesh":
        assert "tritonclient" in names and "kserve" not in names and "llama-cpp-python" not in names
    if name == "tier":
        assert {"kserve", "llama-cpp-python"} <= names and "tritonclient" not in names
