# syntax=docker/dockerfile:1.7
# The mesh image: router, test synthesis and sandbox, one entry point `cascade serve <svc>`.
# Build from the repository root:  docker build -f docker/mesh.Dockerfile -t codecascade-mesh .
#
# Debian's own Python (3.11, /usr/bin/python3) on purpose: the sandbox runs untrusted code with
# SANDBOX_PYTHON=/usr/bin/python3 and PATH=/usr/bin:/bin, so the interpreter the runner needs is
# the one the services run on. Dependencies come only from docker/requirements-*.txt (hashed,
# `pip install --require-hashes`, wheels only); the project itself is built into a wheel in the
# build stage. Runs as UID/GID 10001 with nothing writable but the volumes the chart mounts.
# A dated tag for development builds. A production build passes a digest-pinned reference
# (skaffold -p prod: BASE_IMAGE=$CODECASCADE_BASE_IMAGE, refused by docker/require-digest.sh unless
# it ends in @sha256:<64 hex>); no registry is reachable where this repository is developed to read
# or verify one, so none is written here.
ARG BASE_IMAGE=debian:bookworm-20251229-slim
ARG PYTHON_DEB_VERSION=3.11.2-1+b1

FROM ${BASE_IMAGE} AS build
ARG PYTHON_DEB_VERSION
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      "python3=${PYTHON_DEB_VERSION}" "python3-venv=${PYTHON_DEB_VERSION}" \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/build && python3 -m venv /opt/venv
COPY docker/requirements-build.txt docker/requirements-mesh.txt /tmp/req/
RUN /opt/build/bin/pip install --require-hashes --only-binary=:all: \
      -r /tmp/req/requirements-build.txt \
 && /opt/venv/bin/pip install --require-hashes --only-binary=:all: \
      -r /tmp/req/requirements-mesh.txt
COPY pyproject.toml README.md /src/
COPY services /src/services
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels /src \
 && /opt/venv/bin/pip install --no-deps --no-index /tmp/wheels/codecascade-*.whl \
 && /opt/venv/bin/pip uninstall -y pip \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

FROM ${BASE_IMAGE}
ARG PYTHON_DEB_VERSION
LABEL org.opencontainers.image.title="codecascade-mesh" \
      org.opencontainers.image.description="codecascade router, test synthesis and sandbox" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "python3=${PYTHON_DEB_VERSION}" ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 codecascade \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin codecascade
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GRPC_HOST=0.0.0.0 \
    SANDBOX_PYTHON=/usr/bin/python3
USER 10001:10001
EXPOSE 50060 50061 50062
ENTRYPOINT ["cascade", "serve"]
CMD ["router"]
