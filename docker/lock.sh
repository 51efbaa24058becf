#!/usr/bin/env bash
# Regenerates the images' hashed locks (docker/requirements-{mesh,tier,build}.txt) from the
# docker/*.in files, with every transitive version held to what the tested .venv has installed
# (its `pip freeze` is the constraint set). Hashes cover every file PyPI has for each pinned
# version, so the images build on amd64 and arm64 with `pip install --require-hashes`.
# Needs `uv` (pip install uv) and network access to pypi.org; the lock is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-uv}
mkdir -p build
constraints=build/venv-freeze.txt  # a fixed path: uv writes it into the locks' annotations
.venv/bin/python -m pip freeze --all --exclude-editable --disable-pip-version-check >"$constraints"
for name in mesh tier build; do
  "$UV" pip compile --no-config --index-url https://pypi.org/simple \
    --python-version 3.11 --python-platform linux --generate-hashes --quiet \
    --constraint "$constraints" --custom-compile-command "bash docker/lock.sh" \
    "docker/$name.in" -o "docker/requirements-$name.txt"
done
