"""The OpenAI-protocol tier client against a real OpenAI-compatible server.

llama-cpp-python's own server (`python -m llama_cpp.server`) serves model S over `/v1/models`,
`/v1/completions` and `/v1/chat/completions`, the way vLLM or a hosted API would; the client is
the one the router and test synthesis use for `protocol: openai` tiers.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest

from codecascade.cli.supervisor import free_port
from codecascade.core.sampling import SamplingParams
from codecascade.core.tiers import TierSpec
from codecascade.tierclient.errors import TierUnavailable
from codecascade.tierclient.openai_client import OpenAITierClient
from codecascade.tierserver.locate import default_cache_dir, resolve_model

pytest.importorskip("sse_starlette", reason="llama-cpp-python[server] extras not installed")


@pytest.fixture
async def server() -> AsyncIterator[tuple[asyncio.subprocess.Process, OpenAITierClient]]:
    model = resolve_model("S", default_cache_dir(), verify_sha256=False)
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "llama_cpp.server", "--model", str(model.path),
        "--model_alias", "S", "--host", "127.0.0.1", "--port", str(port),
        "--n_threads", "2", "--n_ctx", "2048",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    spec = TierSpec(
        name="S",
        protocol="openai",
        address=f"http://127.0.0.1:{port}/v1",
        model="S",
        price_per_1k_tokens=0.5,
        timeout_s=60,
        max_attempts=2,
    )
    client = OpenAITierClient(spec)
    try:
        for _ in range(150):
            if await client.ready(timeout_s=1.0):
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail("llama_cpp.server did not become ready")
        yield process, client
    finally:
        await client.close()
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_chat_and_raw_completions_with_usage_and_cost(server) -> None:
    _, client = server
    params = SamplingParams(max_tokens=16, seed=1)
    chat = await client.generate("Write a Python function that adds two numbers.", params)
    assert chat.texts and chat.texts[0].strip()
    assert chat.prompt_tokens > 0 and 0 < chat.completion_tokens <= 16
    assert chat.cost_usd == pytest.approx(chat.completion_tokens * 0.5 / 1000)
    raw = await client.generate("def add(a, b):\n", params, prompt_format="raw")
    assert raw.texts[0] and raw.completion_tokens <= 16


async def test_a_server_that_goes_away_is_unavailable(server) -> None:
    process, client = server
    process.kill()
    await process.wait()
    with pytest.raises(TierUnavailable):
        await client.generate("hello", SamplingParams(max_tokens=4), timeout_s=10)
