"""The S tier end to end over gRPC (tritonclient) and REST: results, errors, overload, kills."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from codecascade.core.sampling import SamplingParams
from codecascade.tierclient.errors import (
    TierNotFound,
    TierOverloaded,
    TierRejected,
    TierUnavailable,
)
from codecascade.tierclient.oip_client import OipTierClient
from tests.integration.tiers.tier_helpers import LONG_RAW_PROMPT


async def test_n_samples_with_usage_and_cost(tier_s: Any) -> None:
    client = OipTierClient(tier_s.spec())
    try:
        result = await client.generate(
            "Write a Python function that returns the square of x.",
            SamplingParams(n=3, temperature=0.8, top_p=0.95, max_tokens=24, seed=11),
        )
    finally:
        await client.close()
    assert len(result.texts) == 3 and all(result.texts)
    assert result.finish_reasons == ("length",) * 3
    assert result.prompt_tokens > 10
    assert result.completion_tokens == 72
    assert result.cost_usd == pytest.approx(72 * 0.135 / 1000)
    assert result.attempts == 1


async def test_seeded_sampling_repeats_and_greedy_replicates(tier_s: Any) -> None:
    client = OipTierClient(tier_s.spec())
    params = SamplingParams(n=2, temperature=0.9, max_tokens=12, seed=5)
    try:
        first = await client.generate("Name a fruit.", params)
        second = await client.generate("Name a fruit.", params)
        greedy = await client.generate(
            "def add(a, b):", SamplingParams(n=3, max_tokens=8), prompt_format="raw"
        )
    finally:
        await client.close()
    assert first.texts == second.texts
    assert len(set(greedy.texts)) == 1 and len(greedy.texts) == 3


async def test_unknown_model_is_not_found(tier_s: Any) -> None:
    client = OipTierClient(tier_s.spec(model="XL"))
    try:
        with pytest.raises(TierNotFound, match="NOT_FOUND"):
            await client.generate("hi", SamplingParams(max_tokens=2))
    finally:
        await client.close()


@pytest.mark.parametrize(
    "params",
    [SamplingParams(n=99), SamplingParams(top_p=0.0), SamplingParams(max_tokens=100_000)],
)
async def test_bad_sampling_parameters_are_invalid_argument(
    tier_s: Any, params: SamplingParams
) -> None:
    client = OipTierClient(tier_s.spec())
    try:
        with pytest.raises(TierRejected, match="INVALID_ARGUMENT: sampling_parameters"):
            await client.generate("hi", params)
    finally:
        await client.close()


async def test_too_long_prompt_reports_token_counts(tier_s: Any) -> None:
    client = OipTierClient(tier_s.spec())
    try:
        with pytest.raises(TierRejected, match=r"prompt is \d{4} tokens; the context holds 2048"):
            await client.generate("word " * 3000, SamplingParams(max_tokens=4))
    finally:
        await client.close()


async def _two_long_requests(client: OipTierClient) -> tuple[BaseException, asyncio.Task[Any]]:
    """Sends two long requests at once to a server that runs one and queues none.

    Whichever arrives second finds the other decoding (1500 tokens take seconds, the second
    request is a packet behind), so it is refused, and that refusal says the other is in
    flight: no sleep guesses when it has started. Returns the refusal and the running call.
    """
    calls = [
        asyncio.create_task(
            client.generate(LONG_RAW_PROMPT, SamplingParams(max_tokens=1500), prompt_format="raw")
        )
        for _ in range(2)
    ]
    done, running = await asyncio.wait(calls, timeout=120, return_when=asyncio.FIRST_COMPLETED)
    (refused,) = done
    (long,) = running
    error = refused.exception()
    assert error is not None, "both long requests were admitted"
    return error, long


async def _served_when_free(client: OipTierClient) -> None:
    """Asks until the server takes a request: refusals end once the cancelled one has stopped."""
    while True:
        try:
            await client.generate("hi", SamplingParams(max_tokens=2))
            return
        except TierOverloaded:
            continue  # refused at once; the cancelled generation ends at its next token


async def test_full_queue_is_resource_exhausted_and_cancel_frees_it(tier_s: Any) -> None:
    client = OipTierClient(tier_s.spec(max_attempts=1))
    try:
        refusal, long = await _two_long_requests(client)
        assert isinstance(refusal, TierOverloaded)
        assert "RESOURCE_EXHAUSTED: model queue is full" in str(refusal)
        long.cancel()
        with pytest.raises(asyncio.CancelledError):
            await long
        # Without the cancel reaching the model, it would hold it for 1500 tokens; the bound
        # only stops a hang (test_engine shows the generation stops at its next token).
        await asyncio.wait_for(_served_when_free(client), 60)
    finally:
        await client.close()


async def test_rest_v2_json(tier_s: Any) -> None:
    body = {
        "inputs": [
            {"name": "text_input", "shape": [1], "datatype": "BYTES", "data": ["Say hi"]},
            {
                "name": "sampling_parameters",
                "shape": [1],
                "datatype": "BYTES",
                "data": ['{"max_tokens": 4}'],
            },
            {"name": "exclude_input_in_output", "shape": [1], "datatype": "BOOL", "data": [True]},
        ]
    }
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{tier_s.http_port}") as http:
        assert (await http.get("/v2/health/ready")).json() == {"ready": True}
        answer = (await http.post("/v2/models/S/infer", json=body)).json()
        bad = await http.post(
            "/v2/models/S/infer",
            json={
                **body,
                "inputs": [*body["inputs"][:1], {**body["inputs"][1], "data": ['{"n": 0}']}],
            },
        )
    outputs = {o["name"]: o["data"] for o in answer["outputs"]}
    assert outputs["num_output_tokens"] == [4] and len(outputs["text_output"]) == 1
    assert bad.status_code == 400 and "n=0" in bad.json()["error"]


async def test_server_killed_mid_request_is_unavailable_fast(
    start_tier: Callable[..., Any],
) -> None:
    server = start_tier("S", "--queue-size", "0")
    client = OipTierClient(server.spec(max_attempts=3, backoff_initial_s=0.05))
    try:
        refusal, request = await _two_long_requests(client)
        assert isinstance(refusal, TierOverloaded)  # so `request` is decoding now
        server.process.kill()
        # Fast means well before the call's 60 s deadline; the bound only stops a hang.
        with pytest.raises(TierUnavailable, match=r"UNAVAILABLE.*after 3 attempt"):
            await asyncio.wait_for(request, timeout=30)
        assert not await client.ready(timeout_s=1.0)
    finally:
        await client.close()


def test_missing_model_stops_the_server_with_the_fix(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "codecascade.tierserver",
            "--model",
            "M",
            "--model-cache-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "run `cascade models fetch M" in done.stderr
