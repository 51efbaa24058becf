#!/usr/bin/env bash
# Provisions a real Triton for the opt-in Triton proof (tests/integration/tiers/test_triton.py):
#   $HOME/.cache/codecascade/triton/pytriton/tritonserver  Triton 2.51 from nvidia-pytriton==0.7.0
#   $HOME/.cache/codecascade/triton/venv                   numpy<2 + llama.cpp for the backend stub
# The Python-backend stub is compiled against numpy 1.x: with numpy 2 it misreads BYTES inputs
# ("unpack_from requires a buffer of at least 471604256 bytes"), hence the separate venv.
# Usage: scripts/tiers_triton_env.sh  (then: CODECASCADE_TRITON_HOME=... pytest -m slow ...)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
home="${CODECASCADE_TRITON_HOME:-$HOME/.cache/codecascade/triton}"
python="${PYTHON:-python3.11}"
wheel_sha256="21f063ff93bb426d0c06b7a55e7eb9efcfe62c0dddd9a908e9877e18710128df"
mkdir -p "$home"
server="$home/pytriton/tritonserver"  # the stub's RPATH expects ../../../../nvidia_pytriton.libs
if [[ ! -x "$server/bin/tritonserver" ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "nvidia-pytriton==0.7.0 --hash=sha256:$wheel_sha256" > "$tmp/req.txt"
  "$root/.venv/bin/pip" download --no-deps --only-binary=:all: --require-hashes \
    -r "$tmp/req.txt" -d "$tmp"
  "$root/.venv/bin/python" -m zipfile -e "$tmp"/nvidia_pytriton-0.7.0-*.whl "$tmp/x"
  rm -rf "$home/pytriton" "$home/nvidia_pytriton.libs"
  mv "$tmp/x/pytriton" "$home/pytriton"
  mv "$tmp/x/nvidia_pytriton.libs" "$home/nvidia_pytriton.libs"
  chmod +x "$server/bin/tritonserver" "$server/python_backend_stubs/3.11/triton_python_backend_stub"
  cp "$server/python_backend_stubs/3.11/triton_python_backend_stub" "$server/backends/python/"
fi
if [[ ! -x "$home/venv/bin/python" ]]; then
  "$python" -m venv "$home/venv"
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" "$home/venv/bin/pip" install -q "numpy<2" \
    llama-cpp-python==0.3.36 "pydantic>=2.7,<3" "pydantic-settings>=2.4,<3" "pyyaml>=6,<7" \
    "grpcio>=1.76,<2"
  "$home/venv/bin/pip" install -q --no-deps -e "$root"
fi
echo "$home"
