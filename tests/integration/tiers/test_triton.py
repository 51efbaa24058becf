"""The Triton proof: a real `tritonserver` (from nvidia-pytriton 0.7.0) with a Python-backend
model over the same llama.cpp engine, reached by the same `OipTierClient` as the KServe tier.

Opt-in: run `scripts/tiers_triton_env.sh` once (downloads the pinned wheel, builds a numpy<2 venv
for the backend stub), then this test runs instead of skipping. Also marked slow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from codecascade.core.sampling import SamplingParams
from codecascade.core.tiers import TierSpec
from codecascade.tierclient.errors import TierRejected
from codecascade.tierclient.oip_client import OipTierClient
from tests.integration.tiers.tier_helpers import free_port, model_path

HOME = Path(os.environ.get("CODECASCADE_TRITON_HOME", Path.home() / ".cache/codecascade/triton"))
SERVER = HOME / "pytriton" / "tritonserver"
STUB_SITE = HOME / "venv" / "lib" / "python3.11" / "site-packages"
ASSETS = Path(__file__).parent / "triton_model"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (SERVER / "bin" / "tritonserver").exists() or not STUB_SITE.exists(),
        reason="opt-in: run scripts/tiers_triton_env.sh to provision Triton",
    ),
]


def _repository(root: Path) -> Path:
    version = root / "S" / "1"
    version.mkdir(parents=True)
    shutil.copy(ASSETS / "model.py", version / "model.py")
    (version / "site-packages.txt").write_text(str(STUB_SITE))
    config = (ASSETS / "config.pbtxt.in").read_text()
    config = config.replace("@NAME@", "S").replace("@MODEL_PATH@", str(model_path("S")))
    (root / "S" / "config.pbtxt").write_text(config)
    return root


def _wait_ready(port: int, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            assert process.poll() is None, "tritonserver exited"
            try:
                if client.is_model_ready("S", client_timeout=1.0):
                    return
            except InferenceServerException:
                pass
            time.sleep(0.2)
    finally:
        client.close()
    raise AssertionError("Triton not ready in time")


def _clean_env() -> dict[str, str]:
    """The environment without this venv: the backend stub must not find numpy 2 through it."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        env["PATH"] = os.pathsep.join(
            p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(venv)
        )
    return env


@pytest.fixture
def triton_port(tmp_path: Path) -> Iterator[int]:
    """Starts tritonserver on free loopback ports; yields its gRPC port."""
    repository = _repository(tmp_path / "repo")
    grpc_port, http_port = free_port(), free_port()
    with (tmp_path / "triton.log").open("wb") as log:
        process = subprocess.Popen(
            [
                str(SERVER / "bin" / "tritonserver"),
                f"--model-repository={repository}",
                f"--backend-directory={SERVER / 'backends'}",
                "--grpc-address=127.0.0.1", f"--grpc-port={grpc_port}",
                "--http-address=127.0.0.1", f"--http-port={http_port}",
                "--allow-metrics=false", "--exit-on-error=true", "--exit-timeout-secs=2",
            ],
            stdout=log, stderr=subprocess.STDOUT, env=_clean_env(),
        )  # fmt: skip
        try:
            _wait_ready(grpc_port, process)
            yield grpc_port
        finally:
            process.terminate()
            process.wait(timeout=30)


async def test_same_client_gets_completions_from_triton(triton_port: int) -> None:
    client = OipTierClient(
        TierSpec(name="S", address=f"127.0.0.1:{triton_port}", model="S", price_per_1k_tokens=0.135)
    )
    try:
        assert await client.ready()
        result = await client.generate(
            "Write hello world in Python.",
            SamplingParams(n=2, temperature=0.7, max_tokens=16, seed=1),
        )
        assert len(result.texts) == 2 and result.completion_tokens == 32
        assert result.prompt_tokens > 0 and result.cost_usd == pytest.approx(32 * 0.135 / 1000)
        with pytest.raises(TierRejected, match="INVALID_ARGUMENT: prompt is"):
            await client.generate("word " * 3000, SamplingParams())
    finally:
        await client.close()
