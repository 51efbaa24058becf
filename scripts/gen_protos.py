#!/usr/bin/env python3
"""Regenerates the gRPC stubs in services/codecascade/{v1,keda}/ from protos/ (or checks them).

    python scripts/gen_protos.py           # rewrite services/codecascade/{v1,keda}/*_pb2*.py{,i}
    python scripts/gen_protos.py --check   # exit 1 if the committed stubs are stale

`codecascade/v1` is our API; `codecascade/keda` holds KEDA's External Scaler contract (proto
package `externalscaler`, written from KEDA's documentation), generated here so the autoscaler
imports it as `codecascade.keda.externalscaler_pb2`.

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
# Each generated package: its folder under protos/ (= under services/) and its __init__ docstring.
PACKAGES = {
    Path("codecascade")
    / "v1": '"""Generated gRPC stubs for the codecascade.v1 API (see protos/)."""\n',
    Path("codecascade") / "keda": (
        '"""Generated gRPC stubs for KEDA\'s External Scaler contract (proto package\n'
        'externalscaler; see protos/codecascade/keda/)."""\n'
    ),
}


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


def generate(out_dir: Path, package_dir: Path, init: str) -> list[Path]:
    """Generates every proto under protos/<package_dir> into out_dir; returns the files made."""
    protos = sorted((PROTO_ROOT / package_dir).glob("*.proto"))
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
    generated = out_dir / package_dir
    (generated / "__init__.py").write_text(init, encoding="utf-8")
    (generated / "py.typed").write_text("", encoding="utf-8")
    return sorted(generated.iterdir())


def stale_files() -> list[str]:
    """Stub files that differ from a fresh generation (or are missing or extra)."""
    stale: list[str] = []
    for package_dir, init in PACKAGES.items():
        target = ROOT / "services" / package_dir
        with tempfile.TemporaryDirectory() as tmp:
            fresh = {p.name: p for p in generate(Path(tmp), package_dir, init)}
            current = (
                {p.name: p for p in target.glob("*") if p.is_file()} if target.exists() else {}
            )
            names = set(fresh) | set(current)
            stale.extend(
                str(package_dir / n)
                for n in sorted(names)
                if n not in fresh
                or n not in current
                or not filecmp.cmp(fresh[n], current[n], False)
            )
    return stale


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
    for package_dir, init in PACKAGES.items():
        target = ROOT / "services" / package_dir
        with tempfile.TemporaryDirectory() as tmp:
            files = generate(Path(tmp), package_dir, init)
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
            for path in files:
                shutil.copy2(path, target / path.name)
        print(f"wrote {len(files)} files to {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
