#!/usr/bin/env python3
"""Regenerates the gRPC stubs in services/codecascade/v1/ from protos/ (or checks they are current).

    python scripts/gen_protos.py           # rewrite services/codecascade/v1/*_pb2*.py{,i}
    python scripts/gen_protos.py --check   # exit 1 if the committed stubs are stale

Stubs are generated, never edited: `_pb2.py` and `.pyi` by protoc, `_pb2_grpc.py` by grpcio-tools,
and `_pb2_grpc.pyi` by mypy-protobuf so the servicers type-check under mypy --strict.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import sysconfig
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PACKAGE_DIR = Path("codecascade") / "v1"
TARGET = ROOT / "services" / "codecascade" / "v1"
INIT = '"""Generated gRPC stubs for the codecascade.v1 API (see protos/)."""\n'


def _plugin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    scripts = Path(sysconfig.get_path("scripts")) / name
    if scripts.exists():
        return str(scripts)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: install the dev extras (pip install -e '.[dev]')")
    return found


def generate(out_dir: Path) -> list[Path]:
    """Generates every proto under protos/codecascade/v1 into out_dir; returns the files made."""
    protos = sorted((PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))
    include = str(resources.files("grpc_tools") / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--mypy_grpc_out={out_dir}",
        *(str(p.relative_to(PROTO_ROOT)) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    generated = out_dir / PACKAGE_DIR
    (generated / "__init__.py").write_text(INIT, encoding="utf-8")
    (generated / "py.typed").write_text("", encoding="utf-8")
    return sorted(generated.iterdir())


def stale_files() -> list[str]:
    """Stub files that differ from a fresh generation (or are missing or extra)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.name: p for p in generate(Path(tmp))}
        current = {p.name: p for p in TARGET.glob("*") if p.is_file()} if TARGET.exists() else {}
        names = set(fresh) | set(current)
        return sorted(
            n
            for n in names
            if n not in fresh or n not in current or not filecmp.cmp(fresh[n], current[n], False)
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if the stubs are stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        if stale:
            print(f"stale gRPC stubs: {', '.join(stale)}; run: python scripts/gen_protos.py")
            return 1
        print("gRPC stubs are current")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        files = generate(Path(tmp))
        if TARGET.exists():
            shutil.rmtree(TARGET)
        TARGET.mkdir(parents=True)
        for path in files:
            shutil.copy2(path, TARGET / path.name)
    print(f"wrote {len(files)} files to {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
