#!/bin/sh
# Refuses a production build whose base image is not pinned by digest (skaffold's prod profile
# runs it before each image build). Usage: require-digest.sh VARIABLE (the name of the environment
# variable holding the image reference, e.g. CODECASCADE_BASE_IMAGE).
# No registry is reachable from the project's machines to read or verify a digest, so the
# Dockerfiles' default BASE_IMAGE stays a dated tag for development builds; a production build
# must name a digest its builder has verified: NAME:TAG@sha256:<64 hex>.
set -eu
name=${1:?usage: require-digest.sh VARIABLE}
value=$(printenv "$name" || true)
if ! printf '%s' "$value" | grep -Eq '^[^[:space:]@]+@sha256:[0-9a-f]{64}$'; then
  echo "require-digest: $name='$value' is not pinned by digest; set it to an image reference" \
    "with @sha256:<64 hex> read from your registry (e.g. debian:bookworm-20251229-slim@sha256:...)" >&2
  exit 1
fi
