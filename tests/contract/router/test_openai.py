"""The OpenAI-compatible HTTP API over real HTTP, driven by the official `openai` client (and
LiteLLM, and plain httpx for the SSE comments): mapping, parameters, errors, auth, limits.

The gateway, app, uvicorn server, tenants file, ledger and rate limits are real; the cascade's
three ports are doubles (tests/contract/router/openai_harness.py)."""

from __future__ import annotations

import io
import json
import logging
import socket

import httpx
import openai
import pytest

from codecascade.mesh.logs import JsonFormatter
from codecascade.router.openai.server import _bind
from codecascade.router.policy import CascadePolicy, TierPolicy
from codecascade.tenancy.tenants import RateLimits, Tenant
from codecascade.tierclient.errors import TierUnavailable
from tests.contract.router.openai_harness import (
    CODE,
    HUMANEVAL,
    M,
    Ports,
    openai_router,
)


def _client(served, key: str | None = "team-a") -> openai.AsyncOpenAI:
    api_key = served.keys[key] if key in served.keys else (key or "none")
    return openai.AsyncOpenAI(base_url=served.base_url, api_key=api_key, max_retries=0)


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def test_chat_answers_with_the_code_usage_and_the_cascade_path(tmp_path) -> None:
    ports = Ports({"S": False, "M": True})
    async with openai_router(tmp_path, ports) as served:
        async with _client(served) as client:
            raw = await client.chat.completions.with_raw_response.create(
                model="cascade",
                messages=[{"role": "system", "content": "be brief"}, *_user(HUMANEVAL)],
                seed=7,
                user="alice",
                extra_headers={"x-request-id": "req-1"},
            )
            completion = raw.parse()
    assert raw.headers["x-request-id"] == "req-1"
    assert raw.headers["traceparent"].startswith("00-")
    assert "x-codecascade-warning" not in raw.headers
    assert completion.id == "chatcmpl-req-1" and completion.object == "chat.completion"
    assert completion.model == "cascade"
    (choice,) = completion.choices
    assert choice.message.role == "assistant" and choice.finish_reason == "stop"
    assert choice.message.content == f"# M\n{CODE}"
    # S: 2 solutions (100 tokens) + tests (20); M the same: summed over both tiers.
    assert completion.usage.completion_tokens == 240
    assert completion.usage.prompt_tokens == 30
    assert completion.usage.total_tokens == 270
    path = completion.model_extra["codecascade"]
    assert path["tiers"] == ["S", "M"]
    assert [a["decision"] for a in path["attempts"]] == ["escalated", "accepted"]
    assert path["decision"] == "accepted" and path["verified"] is True
    assert path["threshold"] == 0.9 and path["score"] == 1.0
    assert path["entry_point"] == "f" and path["style"] == "humaneval"
    assert path["trace_id"] == raw.headers["traceparent"].split("-")[1]
    assert path["cost_usd"] == pytest.approx(0.0022)
    assert {seed for *_, seed, _ in ports.asked} == {7}


async def test_text_completion(tmp_path) -> None:
    async with openai_router(tmp_path, Ports({"S": True})) as served:
        async with _client(served) as client:
            completion = await client.completions.create(model="cascade", prompt=HUMANEVAL)
    assert completion.object == "text_completion"
    assert completion.choices[0].text == f"# S\n{CODE}"
    assert completion.model_extra["codecascade"]["tiers"] == ["S"]


async def test_streamed_chat_sends_the_answer_then_done(tmp_path) -> None:
    async with openai_router(tmp_path, Ports()) as served:
        async with _client(served) as client:
            stream = await client.chat.completions.create(
                model="cascade",
                messages=_user(HUMANEVAL),
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"# M\n{CODE}"
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish[0].model_extra["codecascade"]["tiers"] == ["S", "M"]
    assert chunks[-1].usage.total_tokens == 270


async def test_stream_carries_cascade_events_as_sse_comments(tmp_path) -> None:
    async with openai_router(tmp_path, Ports()) as served:
        async with httpx.AsyncClient(base_url=served.base_url) as http:
            response = await http.post(
                "/completions",
                json={"model": "cascade", "prompt": HUMANEVAL, "stream": True},
                headers={"authorization": f"Bearer {served.keys['team-a']}"},
            )
    assert response.headers["content-type"].startswith("text/event-stream")
    lines = [line for line in response.text.split("\n\n") if line]
    events = [json.loads(line.split(" ", 2)[2])["event"] for line in lines if line[0] == ":"]
    assert events[:4] == ["tier_started", "candidates_generated", "tests_executed", "tier_finished"]
    assert "escalated" in events
    data = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    assert "".join(json.loads(d)["choices"][0]["text"] for d in data[:-1]) == f"# M\n{CODE}"
    # comments come first, then the answer
    assert max(i for i, line in enumerate(lines) if line[0] == ":") < lines.index(
        next(line for line in lines if line.startswith("data: "))
    )


async def test_models_lists_the_default_and_named_policies(tmp_path) -> None:
    cheap = CascadePolicy(tiers=(TierPolicy(tier="S", k=0),))
    async with openai_router(tmp_path, Ports(), policies={"budget-1": cheap}) as served:
        async with _client(served) as client:
            models = [m.id async for m in client.models.list()]
            one = await client.models.retrieve("budget-1")
            answer = await client.chat.completions.create(
                model="budget-1", messages=_user(HUMANEVAL)
            )
            with pytest.raises(openai.NotFoundError) as missing:
                await client.chat.completions.create(model="gpt-4o", messages=_user(HUMANEVAL))
    assert models == ["cascade", "budget-1"] and one.owned_by == "codecascade"
    path = answer.model_extra["codecascade"]
    assert (path["policy"], path["tiers"], path["decision"]) == ("budget-1", ["S"], "untested")
    assert missing.value.body["code"] == "model_not_found"


async def test_natural_language_task_takes_its_entry_point_from_the_example(tmp_path) -> None:
    ports = Ports({"S": True})
    task = "Write a function that returns its argument unchanged.\nassert f(3) == 3\n"
    async with openai_router(tmp_path, ports) as served:
        async with _client(served) as client:
            answer = await client.chat.completions.create(model="cascade", messages=_user(task))
    path = answer.model_extra["codecascade"]
    assert (path["style"], path["entry_point"], path["verified"]) == ("mbpp", "f", True)


async def test_a_task_naming_no_function_takes_it_from_the_first_tiers_answer(tmp_path) -> None:
    ports = Ports({"S": False, "M": True})
    # One request, one admission: the naming call and the cascade fit one request a minute.
    tenant = Tenant(id="team-a", rate_limits=RateLimits(requests_per_min=1))
    async with openai_router(tmp_path, ports, (tenant,)) as served:
        async with _client(served) as client:
            answer = await client.chat.completions.create(
                model="cascade", messages=_user("Return the argument unchanged.")
            )
    path = answer.model_extra["codecascade"]
    assert (path["entry_point"], path["style"], path["verified"]) == ("f", "mbpp", True)
    assert path["naming"]["tier"] == "S" and path["tiers"] == ["S", "M"]
    assert ports.asked == [
        ("S", 0, 256, None, ""),
        ("S", 2, 256, None, "f"),
        ("M", 2, 256, None, "f"),
    ]
    # the naming call is paid for and counted: 110 tokens on top of the cascade's 270
    assert answer.usage.total_tokens == 380
    assert path["cost_usd"] == pytest.approx(0.0032)


async def test_with_no_function_anywhere_the_designated_tier_answers_unverified(
    tmp_path,
) -> None:
    ports = Ports()
    ports.code = "print([2, 3, 5, 7])\n"
    async with openai_router(tmp_path, ports) as served:
        async with _client(served) as client:
            answer = await client.chat.completions.create(
                model="cascade", messages=_user("Print the first four primes.")
            )
    path = answer.model_extra["codecascade"]
    assert path["verified"] is False and "defines none" in path["unverified_reason"]
    assert path["tiers"] == ["M"] and path["decision"] == "untested"
    # S named nothing; the designated tier (the last, greedy, untested) answers
    assert ports.asked == [("S", 0, 256, None, ""), ("M", 0, 256, None, "")]


async def test_max_tokens_caps_every_candidate(tmp_path) -> None:
    ports = Ports({"S": True})
    async with openai_router(tmp_path, ports) as served:
        async with _client(served) as client:
            await client.chat.completions.create(
                model="cascade", messages=_user(HUMANEVAL), max_tokens=64
            )
            await client.completions.create(model="cascade", prompt=HUMANEVAL, max_tokens=32)
    assert [max_tokens for _, _, max_tokens, _, _ in ports.asked] == [64, 32]


@pytest.mark.parametrize(
    ("params", "param", "needle"),
    [
        ({"n": 2}, "n", "n must be 1"),
        ({"temperature": 0.2}, "temperature", "set per tier by the cascade policy"),
        ({"stop": ["\n"]}, "stop", "stop is not supported"),
        ({"max_tokens": 4}, "max_tokens", "at least 16"),
        ({"extra_body": {"frobnicate": 1}}, "frobnicate", "Unrecognized request argument"),
        ({"top_p": 0.5}, "top_p", "not supported by the cascade"),
        ({"extra_body": {"codecascade": {"k": 99}}}, None, "k must be between 1 and 10"),
    ],
    ids=["n", "temperature", "stop", "max_tokens", "unknown", "top_p", "override"],
)
async def test_parameters_the_cascade_cannot_honour_are_refused_with_400(
    tmp_path, params, param, needle
) -> None:
    async with openai_router(tmp_path, Ports()) as served:
        async with _client(served) as client:
            with pytest.raises(openai.BadRequestError) as refused:
                await client.chat.completions.create(
                    model="cascade", messages=_user(HUMANEVAL), **params
                )
    assert refused.value.status_code == 400
    assert refused.value.body["type"] == "invalid_request_error"
    assert refused.value.body["param"] == param and needle in refused.value.body["message"]


async def test_harmless_arguments_at_neutral_values_are_accepted(tmp_path) -> None:
    async with openai_router(tmp_path, Ports({"S": True})) as served:
        async with _client(served) as client:
            answer = await client.chat.completions.create(
                model="cascade",
                messages=_user(HUMANEVAL),
                top_p=1,
                presence_penalty=0,
                frequency_penalty=0,
                logprobs=False,
                n=1,
            )
    assert answer.choices[0].message.content


@pytest.mark.parametrize("key", [None, "cc_unknown"], ids=["no-key", "unknown-key"])
async def test_unauthenticated_is_401_in_openai_shape(tmp_path, key) -> None:
    async with openai_router(tmp_path, Ports()) as served:
        async with httpx.AsyncClient(base_url=served.base_url) as http:
            headers = {"authorization": f"Bearer {key}"} if key else {}
            response = await http.post(
                "/chat/completions",
                json={"model": "cascade", "messages": _user(HUMANEVAL)},
                headers=headers,
            )
            models = await http.get("/models", headers=headers)
    assert response.status_code == 401 and models.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == ("authentication_error", "invalid_api_key")
    assert response.headers["x-request-id"]


async def test_openai_client_raises_authentication_error(tmp_path) -> None:
    async with openai_router(tmp_path, Ports()) as served:
        async with _client(served, "cc_not-a-key") as client:
            with pytest.raises(openai.AuthenticationError):
                await client.chat.completions.create(model="cascade", messages=_user(HUMANEVAL))


async def test_rate_limit_is_429_with_retry_after(tmp_path) -> None:
    tenant = Tenant(id="team-a", rate_limits=RateLimits(requests_per_min=1))
    async with openai_router(tmp_path, Ports({"S": True}), (tenant,)) as served:
        async with _client(served) as client:
            await client.chat.completions.create(model="cascade", messages=_user(HUMANEVAL))
            with pytest.raises(openai.RateLimitError) as refused:
                await client.chat.completions.create(model="cascade", messages=_user(HUMANEVAL))
            # streaming refusals before the first event are plain HTTP errors too
            with pytest.raises(openai.RateLimitError):
                await client.chat.completions.create(
                    model="cascade", messages=_user(HUMANEVAL), stream=True
                )
    assert int(refused.value.response.headers["retry-after"]) >= 1
    assert refused.value.body["code"] == "rate_limit_exceeded"


async def test_no_allowed_tier_is_403(tmp_path) -> None:
    tenant = Tenant(id="team-a", allowed_tiers=("L",))
    async with openai_router(tmp_path, Ports(), (tenant,)) as served:
        async with _client(served) as client:
            with pytest.raises(openai.PermissionDeniedError):
                await client.chat.completions.create(model="cascade", messages=_user(HUMANEVAL))


async def test_no_tier_answering_is_503(tmp_path) -> None:
    ports = Ports()
    ports.failure = TierUnavailable("tier down")
    async with openai_router(tmp_path, ports, policy=CascadePolicy(tiers=(M,))) as served:
        async with _client(served) as client:
            with pytest.raises(openai.APIStatusError) as refused:
                await client.chat.completions.create(model="cascade", messages=_user(HUMANEVAL))
    assert refused.value.status_code == 503
    assert refused.value.body["type"] == "service_unavailable"


async def test_auth_off_warns_on_every_response(tmp_path) -> None:
    async with openai_router(tmp_path, Ports({"S": True}), auth=False) as served:
        async with _client(served, None) as client:
            raw = await client.chat.completions.with_raw_response.create(
                model="cascade", messages=_user(HUMANEVAL)
            )
    assert raw.headers["x-codecascade-warning"].startswith("INSECURE")


# LiteLLM's own pydantic models warn on import of its OAuth helpers (not ours to fix).
@pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")
async def test_litellm_calls_the_router_as_an_openai_compatible_provider(
    tmp_path, monkeypatch
) -> None:
    # LiteLLM's price table from its wheel, not fetched from GitHub (no network in tests).
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    async with openai_router(tmp_path, Ports({"S": True})) as served:
        response = await litellm.acompletion(
            model="openai/cascade",
            api_base=served.base_url,
            api_key=served.keys["team-a"],
            messages=_user(HUMANEVAL),
            num_retries=0,
        )
    assert response.choices[0].message.content == f"# S\n{CODE}"
    assert response.usage.total_tokens == 135


def test_the_http_port_turns_nagle_off() -> None:
    """With Nagle on, every request after the first on a keep-alive connection waited ~40 ms
    for the delayed ACK between the response's head and body (measured: p50 48 ms -> 3.6 ms)."""
    listening = _bind("127.0.0.1", 0)
    try:
        assert listening.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert listening.proto == socket.IPPROTO_TCP  # so asyncio sets it on each connection
    finally:
        listening.close()


async def test_one_json_log_line_per_http_call_answered_streamed_or_refused(tmp_path) -> None:
    """Like every gRPC call, every HTTP call leaves one line: route, status, duration, tenant,
    request id, trace id; a streamed answer's line is written when its stream ends."""
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    calls = logging.getLogger("codecascade.router.openai.app.calls")
    calls.addHandler(handler)
    level = calls.level
    calls.setLevel(logging.INFO)
    try:
        async with openai_router(tmp_path, Ports()) as served:
            async with _client(served) as client:
                await client.chat.completions.create(model="cascade", messages=_user(HUMANEVAL))
                stream = await client.chat.completions.create(
                    model="cascade", messages=_user(HUMANEVAL), stream=True
                )
                _ = [chunk async for chunk in stream]
            async with _client(served, key="wrong-key") as client:
                with pytest.raises(openai.AuthenticationError):
                    await client.models.list()
    finally:
        calls.removeHandler(handler)
        calls.setLevel(level)
    answered, streamed, refused = (json.loads(line) for line in lines.getvalue().splitlines())
    for line in (answered, streamed):
        assert line["http_route"] == "POST /v1/chat/completions"
        assert line["http_status"] == 200 and line["severity"] == "INFO"
        assert line["tenant"] == "team-a" and line["request_id"]
        assert len(line["trace_id"]) == 32 and line["duration_ms"] > 0
    assert answered["trace_id"] != streamed["trace_id"]
    assert refused["http_route"] == "GET /v1/models"
    assert refused["http_status"] == 401 and refused["severity"] == "WARNING"
