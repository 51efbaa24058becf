# syntax=docker/dockerfile:1.7
# The tier runtime image: `cascade serve tier`, a KServe custom predictor around llama.cpp
# (OIP v2 REST :8080, gRPC :8081). In a cluster it runs as our KServe ServingRuntime, or as a
# plain Deployment. Build from the repository root:
#   docker build -f docker/tier.Dockerfile -t codecascade-tier .
#
# No model is baked in: KServe's storage initializer puts the GGUF file in /mnt/models (the
# InferenceService's storageUri), or a volume is mounted there; MODEL_CACHE_DIR points at it.
# llama-cpp-python is compiled in the build stage with GGML_NATIVE=OFF (a portable CPU build;
# build a CUDA variant with --build-arg CMAKE_ARGS="-DGGML_CUDA=on" on a CUDA base image).
# A dated tag for development builds. A production build passes a digest-pinned reference
# (skaffold -p prod: BASE_IMAGE=$CODECASCADE_BASE_IMAGE, refused by docker/require-digest.sh unless
# it ends in @sha256:<64 hex>); no registry is reachable where this repository is developed to read
# or verify one, so none is written here.
ARG BASE_IMAGE=debian:bookworm-20251229-slim
ARG PYTHON_DEB_VERSION=3.11.2-1+b1

FROM ${BASE_IMAGE} AS build
ARG PYTHON_DEB_VERSION
ARG CMAKE_ARGS="-DGGML_NATIVE=OFF"
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      "python3=${PYTHON_DEB_VERSION}" "python3-venv=${PYTHON_DEB_VERSION}" \
      "python3-dev=${PYTHON_DEB_VERSION}" build-essential cmake ninja-build \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/build && python3 -m venv /opt/venv
COPY docker/requirements-build.txt docker/requirements-tier.txt /tmp/req/
RUN /opt/build/bin/pip install --require-hashes --only-binary=:all: \
      -r /tmp/req/requirements-build.txt
# llama-cpp-python is compiled from its hash-checked sdist by the build venv (whose build
# requirements are hash-checked too); every other dependency is a hash-checked wheel.
RUN awk '/^[a-z0-9]/ { llama = ($0 ~ /^llama-cpp-python==/) } llama' \
      /tmp/req/requirements-tier.txt >/tmp/req/llama.txt \
 && awk '/^[a-z0-9]/ { llama = ($0 ~ /^llama-cpp-python==/) } !llama' \
      /tmp/req/requirements-tier.txt >/tmp/req/wheels.txt \
 && CMAKE_ARGS="${CMAKE_ARGS}" /opt/build/bin/pip wheel --no-deps --no-build-isolation \
      --require-hashes --no-binary=:all: -r /tmp/req/llama.txt --wheel-dir /tmp/wheels \
 && /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r /tmp/req/wheels.txt \
 && /opt/venv/bin/pip install --no-deps --no-index /tmp/wheels/llama_cpp_python-*.whl
COPY pyproject.toml README.md /src/
COPY services /src/services
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels /src \
 && /opt/venv/bin/pip install --no-deps --no-index /tmp/wheels/codecascade-*.whl \
 && /opt/venv/bin/pip uninstall -y pip \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

FROM ${BASE_IMAGE}
ARG PYTHON_DEB_VERSION
LABEL org.opencontainers.image.title="codecascade-tier" \
      org.opencontainers.image.description="codecascade llama.cpp tier (KServe predictor)" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "python3=${PYTHON_DEB_VERSION}" libgomp1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 codecascade \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin codecascade
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MODEL_CACHE_DIR=/mnt/models \
    HTTP_PORT=8080 \
    GRPC_PORT=8081
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["cascade", "serve", "tier"]
