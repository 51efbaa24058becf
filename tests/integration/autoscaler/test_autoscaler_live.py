"""The autoscaler against a real router, a real small tier and a real Prometheus.

The router (`RouterService`) runs a two-tier cascade over the embedded S model (SmolLM2-135M on
llama.cpp): tier S answers greedily (k = 1) and asks test synthesis for asserts; test synthesis
here is a gRPC server that only reports SERVING, so every request escalates (no tests: score 0) to
tier "L", which is the same S server under a second name answering greedily. That is real escalation
traffic through the router's real series. Debian's Prometheus scrapes the router's /metrics
every second; two autoscalers read them, one through the Prometheus HTTP API and one by scraping
the router itself, and each is asked, as KEDA asks, over gRPC: IsActive and StreamIsActive for
tier L. Escalations start -> L is active within one scrape interval (plus one poll) and the
stream pushes it; they stop -> inactive once the stabilisation window has passed, and a replica
started in between agrees (it refills its window from Prometheus). The Prometheus
one runs without the leading indicator (it must see the escalations themselves); the scrape one
with it (it activates L before the first escalation, on the requests in S).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from prometheus_client import CollectorRegistry

from codecascade.autoscaler.config import AutoscalerSettings
from codecascade.autoscaler.server import AutoscalerService, build_source
from codecascade.cli.prometheus import ScrapeJob, prometheus_running
from codecascade.keda import externalscaler_pb2 as kpb
from codecascade.keda import externalscaler_pb2_grpc as kpb_grpc
from codecascade.mesh.server import running_server
from codecascade.mesh.settings import ServiceSettings
from codecascade.router.config import RouterSettings
from codecascade.router.policy import CascadePolicy, TierPolicy
from codecascade.router.server import RouterService
from codecascade.tierclient.connect import connect_registry
from codecascade.v1 import cascade_service_pb2 as pb
from codecascade.v1 import cascade_service_pb2_grpc as pb_grpc
from tests.integration.openai.test_openai_real_tier import _HealthOnly
from tests.integration.tiers.tier_helpers import TierServer, free_port, start_server

pytestmark = pytest.mark.timeout(240)

SCRAPE_S = 1.0
POLL_S = 0.25
RATE_WINDOW_S = 4.0
WINDOW_S = 8.0
REQUESTS = 2
POLICY = CascadePolicy(
    tiers=(
        TierPolicy(tier="S", k=1, test_lines=1, threshold=0.9, max_tokens=16),
        TierPolicy(tier="L", k=0, max_tokens=16),
    )
)
TASK = pb.Task(prompt='def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n')
L_REF = kpb.ScaledObjectRef(name="tier-l", namespace="cc", scalerMetadata={"tier": "L"})


@pytest.fixture(scope="module")
def tier_s() -> Iterator[TierServer]:
    server = start_server("S")
    yield server
    server.stop()


def _autoscaler_settings(**source: object) -> AutoscalerSettings:
    return AutoscalerSettings.load(
        grpc_port=0,
        chain=["S", "L"],
        poll_interval_s=POLL_S,
        rate_window_s=RATE_WINDOW_S,
        stabilisation_window_s=WINDOW_S,
        latency_s=2.0,
        **source,
    )


async def _watch(stub: kpb_grpc.ExternalScalerStub, pushes: list[tuple[float, bool]]) -> None:
    """Records StreamIsActive messages with their arrival times: idle, active, idle again."""
    stream = stub.StreamIsActive(L_REF)
    async for message in stream:
        pushes.append((time.monotonic(), message.result))
        if len(pushes) == 3:
            stream.cancel()
            return


async def _traffic(router: pb_grpc.CascadeServiceStub) -> int:
    """REQUESTS requests at once (timing on a shared 2-core machine varies too much for a rate);
    returns how many escalated S -> L."""
    responses = await asyncio.gather(
        *(
            router.Generate(pb.GenerateRequest(task=TASK, seed=seed), timeout=120)
            for seed in range(REQUESTS)
        )
    )
    return sum([a.tier for a in r.attempts] == ["S", "L"] for r in responses)


async def _scraped_idle(prometheus_url: str, timeout_s: float = 30.0) -> None:
    """Waits until Prometheus holds two samples of tier L's (idle) arrival counter."""
    query = {"query": 'count_over_time(codecascade_tier_arrivals_total{tier="L"}[1m])'}
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=5.0) as client:
        while time.monotonic() < deadline:
            response = await client.get(f"{prometheus_url}/api/v1/query", params=query)
            result = response.json()["data"]["result"]
            if result and float(result[0]["value"][1]) >= 2:
                return
            await asyncio.sleep(SCRAPE_S / 4)
    raise AssertionError(f"Prometheus scraped no idle router samples within {timeout_s:.0f} s")


async def _first_escalation(registry: CollectorRegistry) -> float:
    labels = {"from_tier": "S", "to_tier": "L", "reason": "no_tests"}
    for _ in range(60_000):
        if registry.get_sample_value("codecascade_escalations_total", labels):
            break
        await asyncio.sleep(0.01)
    return time.monotonic()


@pytest.fixture
async def router(
    tmp_path: Path, tier_s: TierServer
) -> AsyncIterator[tuple[str, CollectorRegistry]]:
    (tmp_path / "policy.yaml").write_text(POLICY.to_yaml())
    async with running_server(ServiceSettings(grpc_port=0), _HealthOnly()) as peers:
        settings = RouterSettings(
            grpc_port=0,
            metrics_port=free_port(),
            http_enabled=False,
            testsynth_addr=peers.address,
            sandbox_addr=peers.address,
            policy_file=tmp_path / "policy.yaml",
            tiers=[tier_s.spec(), tier_s.spec(name="L")],
        )
        registry = CollectorRegistry()
        service = RouterService(
            settings, POLICY, connect_registry(settings.tiers), registry=registry
        )
        async with running_server(settings, service, registry=registry) as running:
            yield f"{running.address}|127.0.0.1:{running.metrics_port}", registry


async def test_escalations_activate_l_within_a_scrape_and_release_it_after_the_window(
    tmp_path: Path, router: tuple[str, CollectorRegistry]
) -> None:
    addresses, registry = router
    router_address, metrics_address = addresses.split("|")
    job = ScrapeJob("router", [metrics_address])
    async with prometheus_running(
        [job], workdir=tmp_path / "prometheus", scrape_interval_s=SCRAPE_S
    ) as prom:
        by_source = {
            # Without the leading indicator: activation must come from the measured escalations.
            "prometheus": _autoscaler_settings(
                leading_indicator=False,
                signal_source="prometheus",
                prometheus_url=prom.url,
                prometheus_matchers='job="router"',
            ),
            "scrape": _autoscaler_settings(
                signal_source="scrape", router_metrics_urls=[f"http://{metrics_address}/metrics"]
            ),
        }
        async with (
            running_server(
                s := by_source["prometheus"], AutoscalerService(s, build_source(s))
            ) as a,
            running_server(t := by_source["scrape"], AutoscalerService(t, build_source(t))) as b,
            grpc.aio.insecure_channel(a.address) as channel_a,
            grpc.aio.insecure_channel(b.address) as channel_b,
            grpc.aio.insecure_channel(router_address) as router_channel,
        ):
            stubs = {
                "prometheus": kpb_grpc.ExternalScalerStub(channel_a),
                "scrape": kpb_grpc.ExternalScalerStub(channel_b),
            }
            for stub in stubs.values():
                assert not (await stub.IsActive(L_REF, timeout=5)).result
            # Escalations must start after Prometheus holds the router's idle series (a ready
            # Prometheus scrapes its first sample up to an interval or more later): a counter
            # first seen already at its final value shows no increase.
            await _scraped_idle(prom.url)
            pushes: dict[str, list[tuple[float, bool]]] = {name: [] for name in stubs}
            watchers = [asyncio.create_task(_watch(stubs[n], pushes[n])) for n in stubs]
            escalation = asyncio.create_task(_first_escalation(registry))
            escalated = await _traffic(pb_grpc.CascadeServiceStub(router_channel))
            stopped = time.monotonic()
            assert escalated == REQUESTS
            first_escalation = await escalation
            # The traffic may end before the next scrape: IsActive turns true within one scrape
            # interval plus one poll of the first escalation (asserted on the pushes below).
            for name, stub in stubs.items():
                while not (await stub.IsActive(L_REF, timeout=5)).result:
                    assert time.monotonic() - first_escalation < 3 * (SCRAPE_S + POLL_S), name
                    await asyncio.sleep(POLL_S / 2)
            # A second replica that starts once the measured rates have decayed (the signals
            # alone now say idle) refills its stabilisation window from Prometheus with range
            # queries, and so agrees with the first: L stays active.
            await asyncio.sleep(
                max(0.0, RATE_WINDOW_S + 2 * SCRAPE_S - (time.monotonic() - stopped))
            )
            late = AutoscalerService(s, build_source(s))
            async with (
                running_server(s, late) as running_late,
                grpc.aio.insecure_channel(running_late.address) as channel_late,
            ):
                late_stub = kpb_grpc.ExternalScalerStub(channel_late)
                assert (await late_stub.IsActive(L_REF, timeout=5)).result
                latest = late.autoscaler.latest
                assert latest is not None
                recommendation = latest.tiers["L"]
                assert not recommendation.forecast.active and recommendation.replicas >= 1
            wind_down_s = WINDOW_S + RATE_WINDOW_S + 4 * SCRAPE_S + 5
            await asyncio.wait_for(asyncio.gather(*watchers), wind_down_s)
            report = {}
            for name, seen in pushes.items():
                assert [value for _, value in seen] == [False, True, False], (name, seen)
                activated, released = seen[1][0], seen[2][0]
                report[name] = (activated - first_escalation, released - stopped)
                # Pushed (not polled) within one scrape interval plus one poll of the first
                # escalation; with the leading indicator (the scrape autoscaler), before it: the
                # first request in S, times the prior escalation probability, is forecast work.
                assert activated - first_escalation <= SCRAPE_S + POLL_S + 1.0, report
                if name == "scrape":
                    assert activated < first_escalation, report
                # Released only once the whole stabilisation window has passed without work.
                assert released - stopped >= WINDOW_S - 1.0, report
            print(f"activation after first escalation / release after stop (s): {report}")
            for stub in stubs.values():
                assert not (await stub.IsActive(L_REF, timeout=5)).result
