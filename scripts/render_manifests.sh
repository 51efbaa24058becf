#!/usr/bin/env bash
# Renders the chart into plain manifests for kubectl users: k8s/manifests/codecascade.yaml
# (release `codecascade` in namespace `codecascade`, the chart's default values: the three
# embedded models as KServe InferenceServices). The file is committed; tests/charts checks that it
# is current. `--check` renders to a temporary file and fails when the committed one differs.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM=${HELM:-build/tools/bin/helm}
out=k8s/manifests/codecascade.yaml

render() {
  echo "# Rendered from charts/codecascade by scripts/render_manifests.sh; do not edit."
  echo "# kubectl apply -f k8s/namespace.yaml -f k8s/runtimeclass-gvisor.yaml -f $out"
  "$HELM" template codecascade charts/codecascade --namespace codecascade --kube-version 1.32.0
}

if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  render >"$tmp"
  if ! diff -u "$out" "$tmp"; then
    echo "render_manifests: $out is stale; run bash scripts/render_manifests.sh" >&2
    exit 1
  fi
  exit 0
fi
mkdir -p "$(dirname "$out")"
render >"$out"
echo "render_manifests: wrote $out"
