"""The real router (`RouterService`: gRPC and the OpenAI-compatible HTTP API in one loop, auth
from a tenants file) over a real tier server (S, SmolLM2-135M on llama.cpp), driven by the
official `openai` client and by LiteLLM.

The policy answers greedily from S (k = 0), so the router calls neither test synthesis nor the
sandbox; they are in-process gRPC servers that only report SERVING, which the router waits for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from codecascade.mesh.server import running_server
from codecascade.mesh.settings import ServiceSettings
from codecascade.router.config import RouterSettings
from codecascade.router.policy import CascadePolicy, TierPolicy
from codecascade.router.server import RouterService
from codecascade.tenancy.tenants import RateLimits, Tenant
from codecascade.tierclient.connect import connect_registry
from tests.contract.router.edge_harness import with_keys
from tests.integration.tiers.tier_helpers import TierServer, start_server
from tests.unit.tenancy.helpers import write

pytestmark = pytest.mark.timeout(600)

TASK = 'def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n'
POLICY = CascadePolicy(tiers=(TierPolicy(tier="S", k=0, max_tokens=64),))


class _HealthOnly:
    """Test synthesis and the sandbox as the router sees them at start: SERVING, nothing else."""

    service_names = ()

    def register(self, server: grpc.aio.Server) -> None:
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


@dataclass
class Router:
    base_url: str
    keys: dict[str, str]


@pytest.fixture(scope="module")
def tier_s() -> Iterator[TierServer]:
    server = start_server("S")
    yield server
    server.stop()


@pytest.fixture
async def router(tmp_path: Path, tier_s: TierServer) -> AsyncIterator[Router]:
    tenants, keys = with_keys(
        (Tenant(id="team-a"), Tenant(id="slow", rate_limits=RateLimits(requests_per_min=1)))
    )
    write(tmp_path / "tenants.yaml", *tenants)
    (tmp_path / "policy.yaml").write_text(POLICY.to_yaml())
    async with running_server(ServiceSettings(grpc_port=0), _HealthOnly()) as peers:
        settings = RouterSettings(
            grpc_port=0,
            http_port=0,
            testsynth_addr=peers.address,
            sandbox_addr=peers.address,
            policy_file=tmp_path / "policy.yaml",
            tiers=[tier_s.spec()],
            tenants_file=tmp_path / "tenants.yaml",
        )
        registry = CollectorRegistry()
        service = RouterService(
            settings,
            POLICY,
            connect_registry(settings.tiers),
            registry=registry,
            tracer_provider=TracerProvider(),  # as setup_telemetry installs: real trace ids
        )
        async with running_server(settings, service, registry=registry):
            assert service.http is not None
            yield Router(service.http.base_url, keys)


def _client(router: Router, tenant: str = "team-a") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=router.base_url, api_key=router.keys[tenant], max_retries=0)


async def test_chat_completion_from_the_real_tier(router: Router) -> None:
    async with _client(router) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="cascade", messages=[{"role": "user", "content": TASK}], seed=1
        )
    answer = raw.parse()
    assert "def add" in answer.choices[0].message.content
    assert answer.usage.completion_tokens > 0
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    path = answer.model_extra["codecascade"]
    assert (path["tiers"], path["decision"], path["verified"]) == (["S"], "untested", False)
    assert path["cost_usd"] > 0 and len(path["trace_id"]) == 32
    assert raw.headers["x-request-id"] and raw.headers["traceparent"]


async def test_streamed_chat_and_text_completion(router: Router) -> None:
    async with _client(router) as client:
        stream = await client.chat.completions.create(
            model="cascade", messages=[{"role": "user", "content": TASK}], stream=True, seed=1
        )
        chunks = [chunk async for chunk in stream]
        completion = await client.completions.create(model="cascade", prompt=TASK, seed=1)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "def add" in text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "def add" in completion.choices[0].text


async def test_models_and_errors(router: Router) -> None:
    async with _client(router) as client:
        assert [m.id async for m in client.models.list()] == ["cascade"]
        with pytest.raises(openai.BadRequestError) as bad:
            await client.chat.completions.create(
                model="cascade", messages=[{"role": "user", "content": TASK}], n=3
            )
        assert bad.value.body["param"] == "n"
    async with openai.AsyncOpenAI(
        base_url=router.base_url, api_key="cc_wrong", max_retries=0
    ) as stranger:
        with pytest.raises(openai.AuthenticationError):
            await stranger.chat.completions.create(
                model="cascade", messages=[{"role": "user", "content": TASK}]
            )
    async with _client(router, "slow") as client:
        await client.completions.create(model="cascade", prompt=TASK)
        with pytest.raises(openai.RateLimitError) as limited:
            await client.completions.create(model="cascade", prompt=TASK)
    assert int(limited.value.response.headers["retry-after"]) >= 1


@pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")  # LiteLLM's own models
async def test_litellm_through_the_router(router: Router, monkeypatch) -> None:
    # LiteLLM's price table from its wheel, not fetched from GitHub (no network in tests).
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    response = await litellm.acompletion(
        model="openai/cascade",
        api_base=router.base_url,
        api_key=router.keys["team-a"],
        messages=[{"role": "user", "content": TASK}],
        num_retries=0,
    )
    assert "def add" in response.choices[0].message.content
    assert response.usage.completion_tokens > 0


async def test_a_natural_language_task_is_named_by_the_first_tier(router: Router) -> None:
    task = "Write a Python function that returns the larger of two numbers."
    async with _client(router) as client:
        answer = await client.chat.completions.create(
            model="cascade", messages=[{"role": "user", "content": task}], seed=1
        )
    path = answer.model_extra["codecascade"]
    if path["entry_point"]:  # S's answer defined a function: the cascade ran on it
        assert path["naming"]["tier"] == "S" and path["naming"]["completion_tokens"] > 0
        assert f"def {path['entry_point']}" in answer.choices[0].message.content
    else:  # it did not: S is also the designated tier, so its answer stands, unverified
        assert path["naming"] is None and path["tiers"] == ["S"]
        assert path["verified"] is False and "defines none" in path["unverified_reason"]
    assert answer.usage.completion_tokens > 0
