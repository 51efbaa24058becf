"""Both signal sources, network-free (httpx.MockTransport): PromQL answers and /metrics pages."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from codecascade.autoscaler.sources import (
    PrometheusSource,
    ScrapeSource,
    promql,
    resolve_addresses,
)
from codecascade.core.errors import InvalidInput, Unavailable
from codecascade.router.events import TierStartedEvent
from codecascade.router.metrics import RouterMetrics


def test_promql_sums_by_tier_over_the_window() -> None:
    assert promql("arrivals", 30, 'job="router"') == (
        'sum by (tier) (increase(codecascade_tier_arrivals_total{job="router"}[30000ms]))'
    )
    # The gauge sizes a tier by its mean over the window, and activates one by its value now.
    assert promql("in_flight", 30) == (
        "sum by (tier) (avg_over_time(codecascade_tier_in_flight{}[30000ms]))"
    )
    assert promql("in_flight_now", 30) == "sum by (tier) (codecascade_tier_in_flight{})"
    assert "by (from_tier, to_tier)" in promql("escalations", 30)


def _vector(query: str) -> list[dict[str, object]]:
    if "escalations" in query:
        return [{"metric": {"from_tier": "S", "to_tier": "M"}, "value": [0, "3"]}]
    if "avg_over_time(codecascade_tier_in_flight" in query:
        return [{"metric": {"tier": "S"}, "value": [0, "1.5"]}]
    if "in_flight" in query:
        return [{"metric": {"tier": "S"}, "value": [0, "2"]}]
    if "arrivals" in query:
        return [
            {"metric": {"tier": "S"}, "value": [0, "10"]},
            {"metric": {"tier": "M"}, "value": [0, "NaN"]},
        ]
    return []


async def test_prometheus_source_reads_each_series() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/query"
        query = request.url.params["query"]
        return httpx.Response(
            200,
            json={"status": "success", "data": {"resultType": "vector", "result": _vector(query)}},
        )

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    source = PrometheusSource("http://prom:9090/", window_s=30, client=client)
    snapshot = await source.snapshot()
    assert snapshot.arrivals == {"S": 10.0, "M": 0.0}
    assert snapshot.in_flight == {"S": 1.5}
    assert snapshot.in_flight_now == {"S": 2.0}
    assert snapshot.escalations == {("S", "M"): 3.0}
    assert snapshot.window_s == 30


async def test_prometheus_errors_say_what_to_fix() -> None:
    def bad(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json={"status": "error", "errorType": "bad_data", "error": "parse error"}
        )

    source = PrometheusSource(
        "http://prom", window_s=30, client=httpx.AsyncClient(transport=httpx.MockTransport(bad))
    )
    with pytest.raises(InvalidInput, match="prometheus_matchers"):
        await source.snapshot()

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    source = PrometheusSource(
        "http://prom", window_s=30, client=httpx.AsyncClient(transport=httpx.MockTransport(down))
    )
    with pytest.raises(Unavailable, match="prometheus at http://prom"):
        await source.snapshot()


class Router:
    """A router's real RouterMetrics behind a MockTransport /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.metrics = RouterMetrics.create(self.registry)

    def page(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=generate_latest(self.registry))


async def test_scrape_source_rates_between_scrapes_summed_over_routers() -> None:
    routers = {"http://a/metrics": Router(), "http://b/metrics": Router()}
    now = [0.0]

    def answer(request: httpx.Request) -> httpx.Response:
        return routers[str(request.url)].page(request)

    source = ScrapeSource(
        list(routers),
        window_s=10,
        client=httpx.AsyncClient(transport=httpx.MockTransport(answer)),
        clock=lambda: now[0],
    )
    first = await source.snapshot()
    assert dict(first.arrivals) == {}  # one scrape: no rate yet
    for router in routers.values():
        router.metrics.record(TierStartedEvent("S", 2, 1, 1))
    routers["http://a/metrics"].metrics.record(TierStartedEvent("M", 2, 1, 1))
    now[0] = 5.0
    second = await source.snapshot()
    # 1 arrival per router in 5 s -> 0.2/s each, 0.4/s together -> 4 over a 10 s window.
    assert second.arrivals["S"] == pytest.approx(4.0)
    assert second.in_flight_now == {"S": 2.0, "M": 1.0}
    # Each router's mean over its samples in the window (0 then 1: 0.5), then summed.
    assert second.in_flight == {"S": pytest.approx(1.0), "M": pytest.approx(0.5)}


async def test_scrape_source_unavailable_only_when_every_router_fails() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    source = ScrapeSource(
        ["http://a/metrics"],
        window_s=10,
        client=httpx.AsyncClient(transport=httpx.MockTransport(down)),
    )
    with pytest.raises(Unavailable, match="no router /metrics"):
        await source.snapshot()


async def test_scrape_source_resolves_each_router_pod_and_forgets_those_that_left() -> None:
    routers = {"10.0.0.1": Router(), "10.0.0.2": Router()}
    addresses = ["10.0.0.1", "10.0.0.2"]
    now = [0.0]
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return list(addresses)

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.port == 9464 and request.url.path == "/metrics"
        return routers[request.url.host].page(request)

    source = ScrapeSource(
        ["http://router-metrics.cc.svc:9464/metrics"],
        window_s=10,
        client=httpx.AsyncClient(transport=httpx.MockTransport(answer)),
        clock=lambda: now[0],
        resolve=resolve,
    )
    await source.snapshot()
    for router in routers.values():
        router.metrics.record(TierStartedEvent("S", 2, 1, 1))
    now[0] = 5.0
    both = await source.snapshot()
    assert both.in_flight_now == {"S": 2.0}  # one per pod, summed: not one pod read twice
    assert both.arrivals["S"] == pytest.approx(4.0)
    assert asked[0] == ("router-metrics.cc.svc", 9464)
    addresses.remove("10.0.0.2")  # that pod left: its samples go with it
    now[0] = 6.0
    one = await source.snapshot()
    assert one.in_flight_now == {"S": 1.0}
    assert one.in_flight == {"S": pytest.approx(2 / 3)}  # samples at 0, 5 and 6 s: 0, 1, 1


async def test_the_system_resolver_keeps_an_address_as_it_is() -> None:
    assert await resolve_addresses("127.0.0.1", 9464) == ["127.0.0.1"]
