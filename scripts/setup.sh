#!/usr/bin/env bash
# Installs everything codecascade needs on a fresh Debian 12 machine (run as root):
# system packages (gVisor's runsc, the sandbox's Python), a virtual environment in .venv with the
# project and its dev tools, and the type-checking link. Safe to run again; it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v runsc >/dev/null 2>&1 || need_apt+=(runsc)
[ -x /usr/bin/python3 ] || need_apt+=(python3-minimal)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.codecascade-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing codecascade and its dev tools into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
  touch "$stamp"
fi

# mypy cannot follow setuptools' editable finder from `codecascade` to services/; this link lets
# it check the package under its import name.
mkdir -p build/typing
ln -sfn ../../services build/typing/codecascade

echo "setup: done ($(runsc --version 2>/dev/null | head -n1))"
