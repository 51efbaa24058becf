"""The OpenAI-compatible client against httpx.MockTransport: mapping, retry, usage, cost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest

from codecascade.core.sampling import SamplingParams
from codecascade.core.tiers import TierSpec
from codecascade.core.usage import split_by_weight
from codecascade.tierclient.errors import (
    TierDeadlineExceeded,
    TierFailed,
    TierNotFound,
    TierOverloaded,
    TierRejected,
    TierUnavailable,
)
from codecascade.tierclient.openai_client import OpenAITierClient

ENDPOINT = TierSpec(
    name="M",
    protocol="openai",
    address="http://tier.test/v1",
    model="qwen",
    price_per_1k_tokens=0.5,
    max_attempts=3,
    backoff_initial_s=0.001,
    backoff_max_s=0.002,
    api_key="k",
)


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> OpenAITierClient:
    return OpenAITierClient(ENDPOINT, transport=httpx.MockTransport(handler))


def _chat_ok(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    assert request.url.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer k"
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert (body["n"], body["seed"], body["stop"]) == (2, 3, ["\n"])
    return httpx.Response(
        200,
        json={
            "choices": [
                {"index": 1, "message": {"content": "b"}, "finish_reason": "length"},
                {"index": 0, "message": {"content": "a"}, "finish_reason": "stop"},
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 40},
        },
    )


async def test_chat_result_with_usage_and_cost() -> None:
    client = _client(_chat_ok)
    result = await client.generate("hi", SamplingParams(n=2, seed=3, stop=("\n",)))
    assert result.texts == ("a", "b")
    assert result.finish_reasons == ("stop", "length")
    assert (result.prompt_tokens, result.completion_tokens) == (5, 40)
    assert result.tokens_per_sample() == (20, 20)  # only the total is reported: split by length
    assert result.cost_usd == pytest.approx(0.02)
    assert (result.tier, result.attempts) == ("M", 1)
    await client.close()


@pytest.mark.parametrize(
    ("total", "weights", "parts"),
    [
        (10, [1, 1, 1], (4, 3, 3)),
        (100, [30, 10, 0], (75, 25, 0)),
        (7, [0, 0], (4, 3)),  # nothing to weigh by: equal parts
        (0, [5, 2], (0, 0)),
        (5, [], ()),
    ],
)
def test_split_by_weight_adds_up(total: int, weights: list[int], parts: tuple[int, ...]) -> None:
    assert split_by_weight(total, weights) == parts


async def test_raw_uses_completions() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/completions"
        assert json.loads(request.content)["prompt"] == "def f():"
        return httpx.Response(200, json={"choices": [{"text": " pass"}], "usage": {}})

    result = await _client(handler).generate("def f():", SamplingParams(), prompt_format="raw")
    assert result.texts == (" pass",)
    assert result.cost_usd == 0.0


async def test_unavailable_is_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused", request=request)
        if calls == 2:
            return httpx.Response(503, text="warming up")
        return _chat_ok(request)

    result = await _client(handler).generate("hi", SamplingParams(n=2, seed=3, stop=("\n",)))
    assert result.attempts == 3


async def test_server_going_away_is_unavailable_with_detail() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    with pytest.raises(TierUnavailable, match=r"RemoteProtocolError.*after 3 attempt"):
        await _client(handler).generate("hi", SamplingParams())


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, TierRejected),
        (422, TierRejected),
        (404, TierNotFound),
        (429, TierOverloaded),
        (500, TierFailed),
    ],
)
async def test_status_mapping(status: int, error: type[Exception]) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(status, text="nope")

    with pytest.raises(error, match=f"HTTP {status}: nope"):
        await _client(handler).generate("hi", SamplingParams())
    assert calls == 1


async def test_deadline_bounds_a_hanging_server() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")

    client = OpenAITierClient(ENDPOINT, transport=httpx.MockTransport(handler))
    with pytest.raises(TierDeadlineExceeded):
        await client.generate("hi", SamplingParams(), timeout_s=0.05)


async def test_malformed_response() -> None:
    client = _client(lambda request: httpx.Response(200, json={"choices": "x"}))
    with pytest.raises(TierFailed, match="malformed"):
        await client.generate("hi", SamplingParams())


async def test_ready_lists_the_model() -> None:
    client = _client(lambda request: httpx.Response(200, json={"data": [{"id": "qwen"}]}))
    assert await client.ready()
    down = _client(lambda request: httpx.Response(503))
    assert not await down.ready()
