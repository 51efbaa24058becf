#!/usr/bin/env bash
# Waits until a release's tiers serve: every InferenceService Ready (KServe's controller sets it
# once the predictor is up; `helm --wait` does not wait for custom resources) and every Deployment
# of the release rolled out (mesh and Triton tiers).
#   k8s/wait-tiers.sh [release] [namespace] [timeout]     (defaults: codecascade codecascade 15m)
set -euo pipefail
release=${1:-codecascade}
ns=${2:-codecascade}
timeout=${3:-15m}
KUBECTL=${KUBECTL:-kubectl}
selector="app.kubernetes.io/instance=$release"
if [ -n "$("$KUBECTL" get inferenceservices.serving.kserve.io -n "$ns" -l "$selector" -o name 2>/dev/null)" ]; then
  "$KUBECTL" wait inferenceservices.serving.kserve.io -n "$ns" -l "$selector" \
    --for=condition=Ready --timeout="$timeout"
fi
for d in $("$KUBECTL" get deployments -n "$ns" -l "$selector" -o name); do
  "$KUBECTL" rollout status -n "$ns" "$d" --timeout="$timeout"
done
echo "wait-tiers: release $release in $ns is ready"
