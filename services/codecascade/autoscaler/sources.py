"""Where the routers' series come from: the Prometheus HTTP API, or the routers' /metrics.

`PrometheusSource` (in a cluster) asks Prometheus for six instant vectors per poll: `increase`
over the rate window of the arrivals, finishes, time and escalation counters, and the in-flight
gauge both averaged over the rate window (`avg_over_time`: what sizes a tier) and as it is now
(what activates one), each summed over router replicas by tier. It can also recompute the
snapshots of the past window (`history`, one range query per series), which is how a starting
autoscaler replica fills its stabilisation window from the signal store instead of starting
empty.

`ScrapeSource` (no Prometheus: `cascade up`, small installs) reads each router's /metrics itself
with prometheus_client's text parser, keeps each router's samples for the rate window and takes
increases between the oldest and newest (a counter that went down is a restarted router: its
new value is the increase), and the in-flight gauge's mean over the samples inside the window
besides its newest value. Rates and means are per router, then summed, so routers scraped at
slightly different times still add up. Each router must be scraped as itself: a URL through a
load-balanced Service would reach a different pod each time and mix their counters. With
`resolve` on, each URL's host name is resolved every poll and every address is scraped as one
router (a headless Service's name: one address per ready router pod), so router replicas come
and go by themselves.

Both return a `signals.Snapshot` and raise `core.errors.Unavailable` when they cannot read.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from codecascade.autoscaler.signals import SERIES, Snapshot
from codecascade.core.errors import InvalidInput, Unavailable

__all__ = [
    "PrometheusSource",
    "Resolver",
    "ScrapeSource",
    "parse_metrics",
    "promql",
    "resolve_addresses",
]

_log = logging.getLogger(__name__)

# Snapshot field -> the labels its sum keeps.
_BY = {
    "arrivals": ("tier",),
    "finished": ("tier",),
    "busy_s": ("tier",),
    "in_flight": ("tier",),
    "in_flight_now": ("tier",),
    "escalations": ("from_tier", "to_tier"),
}


def promql(series: str, window_s: float, matchers: str = "") -> str:
    """The PromQL for one Snapshot field (`SERIES` key) over `window_s`: summed by tier (the
    in-flight gauge: each router's mean over the window, or its value now)."""
    selector = f"{SERIES[series]}{{{matchers}}}"
    by = ", ".join(_BY[series])
    if series == "in_flight_now":
        return f"sum by ({by}) ({selector})"
    if series == "in_flight":
        return f"sum by ({by}) (avg_over_time({selector}[{_duration(window_s)}]))"
    return f"sum by ({by}) (increase({selector}[{_duration(window_s)}]))"


def _duration(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds * 1000))}ms"


def _key(series: str, labels: Mapping[str, str]) -> Any:
    if series == "escalations":
        return (labels.get("from_tier", ""), labels.get("to_tier", ""))
    return labels.get("tier", "")


def _snapshot(window_s: float, values: Mapping[str, Mapping[Any, float]]) -> Snapshot:
    return Snapshot(
        window_s=window_s,
        arrivals=dict(values.get("arrivals", {})),
        finished=dict(values.get("finished", {})),
        busy_s=dict(values.get("busy_s", {})),
        in_flight=dict(values.get("in_flight", {})),
        in_flight_now=dict(values.get("in_flight_now", {})),
        escalations=dict(values.get("escalations", {})),
    )


class PrometheusSource:
    """Signals from Prometheus's HTTP API (`/api/v1/query`, `/api/v1/query_range`)."""

    def __init__(
        self,
        url: str,
        *,
        window_s: float,
        matchers: str = "",
        timeout_s: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = url.rstrip("/")
        self._window_s = window_s
        self._matchers = matchers
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._owns_client = client is None

    async def snapshot(self) -> Snapshot:
        """Each series' instant vector now, summed by tier."""
        names = list(_BY)
        results = await asyncio.gather(
            *(
                self._query("query", {"query": promql(n, self._window_s, self._matchers)})
                for n in names
            )
        )
        values: dict[str, dict[Any, float]] = {}
        for name, result in zip(names, results, strict=True):
            values[name] = {
                _key(name, item.get("metric", {})): _number(item["value"][1]) for item in result
            }
        return _snapshot(self._window_s, values)

    async def history(self, duration_s: float, step_s: float) -> list[tuple[float, Snapshot]]:
        """Snapshots every `step_s` over the last `duration_s`, oldest first, each with its age
        in seconds (how long before now it held)."""
        now = time.time()
        start = now - duration_s
        names = list(_BY)
        params = {"start": f"{start:.3f}", "end": f"{now:.3f}", "step": f"{step_s:.3f}"}
        results = await asyncio.gather(
            *(
                self._query(
                    "query_range", {"query": promql(n, self._window_s, self._matchers), **params}
                )
                for n in names
            )
        )
        by_time: dict[float, dict[str, dict[Any, float]]] = defaultdict(dict)
        for name, result in zip(names, results, strict=True):
            for item in result:
                key = _key(name, item.get("metric", {}))
                for stamp, value in item.get("values", []):
                    by_time[float(stamp)].setdefault(name, {})[key] = _number(value)
        return [
            (now - stamp, _snapshot(self._window_s, by_time[stamp])) for stamp in sorted(by_time)
        ]

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _query(self, endpoint: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        where = f"{self._url}/api/v1/{endpoint}"
        try:
            response = await self._client.get(where, params=params)
        except httpx.HTTPError as exc:
            raise Unavailable(f"prometheus at {self._url}: {exc!r}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 400 or body.get("errorType") == "bad_data":
            raise InvalidInput(
                f"prometheus at {self._url} refused {params.get('query')!r}: "
                f"{body.get('error', response.text[:200])} (check prometheus_matchers)"
            )
        if response.status_code != 200 or body.get("status") != "success":
            raise Unavailable(
                f"prometheus at {self._url}: HTTP {response.status_code} "
                f"{body.get('error', response.text[:200])}"
            )
        result: list[dict[str, Any]] = body.get("data", {}).get("result", [])
        return result


def _number(value: str | float) -> float:
    number = float(value)
    return number if math.isfinite(number) else 0.0


@dataclass(slots=True)
class _Scrape:
    """One router's series at one moment: counters by (field, key) and the in-flight gauges."""

    at: float
    counters: dict[tuple[str, Any], float] = field(default_factory=dict)
    in_flight: dict[Any, float] = field(default_factory=dict)


# Metric name -> the Snapshot field a scrape files it under (the in-flight gauge's value now and
# its mean both come from the one "in_flight" sample of each scrape).
_FAMILY_FIELDS = {SERIES[name]: name for name in _BY if name != "in_flight_now"}

# host, port -> the addresses it resolves to now (one per router).
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to now (the system resolver, as gRPC's dns:/// does)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def parse_metrics(text: str, at: float) -> _Scrape:
    """The autoscaler's series from one /metrics page (Prometheus text format)."""
    scrape = _Scrape(at)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = _FAMILY_FIELDS.get(sample.name)
            if name is None:
                continue
            key = _key(name, sample.labels)
            if name == "in_flight":
                scrape.in_flight[key] = scrape.in_flight.get(key, 0.0) + sample.value
            else:
                slot = (name, key)
                scrape.counters[slot] = scrape.counters.get(slot, 0.0) + sample.value
    return scrape


def _mean_in_flight(history: Sequence[_Scrape], horizon: float) -> dict[Any, float]:
    """One router's in-flight gauges averaged over its samples after `horizon` (the window,
    as `avg_over_time` takes the samples in it; the newest is always in); a tier missing from a
    sample had none in it then."""
    inside = [s for s in history if s.at > horizon] or [history[-1]]
    keys = {key for s in inside for key in s.in_flight}
    return {key: sum(s.in_flight.get(key, 0.0) for s in inside) / len(inside) for key in keys}


class ScrapeSource:
    """Signals from the routers' /metrics pages, read directly (no Prometheus)."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        window_s: float,
        timeout_s: float = 5.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        resolve: Resolver | None = None,
    ) -> None:
        if not urls:
            raise InvalidInput("the scrape source needs at least one router /metrics URL")
        self._urls = tuple(urls)
        self._window_s = window_s
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._owns_client = client is None
        self._clock = clock
        self._resolve = resolve
        self._history: dict[str, deque[_Scrape]] = {}

    async def _targets(self) -> list[str]:
        """The URLs to scrape now: as configured, or one per address each host resolves to."""
        if self._resolve is None:
            return list(self._urls)
        targets: list[str] = []
        for url in self._urls:
            parsed = httpx.URL(url)
            try:
                addresses = await self._resolve(parsed.host, parsed.port or 80)
            except OSError as exc:
                _log.warning("cannot resolve %s: %s", parsed.host, exc)
                continue
            targets.extend(str(parsed.copy_with(host=address)) for address in addresses)
        return sorted(set(targets))

    async def snapshot(self) -> Snapshot:
        """Scrapes every router now; rates over the window, summed over routers."""
        urls = await self._targets()
        if not urls:
            raise Unavailable(f"no router address: {', '.join(self._urls)} resolved to nothing")
        for gone in set(self._history) - set(urls):  # a router that left: forget its samples
            del self._history[gone]
        scrapes = await asyncio.gather(*(self._scrape(u) for u in urls), return_exceptions=True)
        failures = [
            (u, s) for u, s in zip(urls, scrapes, strict=True) if isinstance(s, BaseException)
        ]
        if len(failures) == len(urls):
            raise Unavailable(
                "no router /metrics could be read: " + "; ".join(f"{u}: {e}" for u, e in failures)
            )
        for url, exc in failures:
            _log.warning("router metrics at %s unreadable: %s", url, exc)
        values: dict[str, dict[Any, float]] = defaultdict(dict)
        for url, scrape in zip(urls, scrapes, strict=True):
            if isinstance(scrape, BaseException):
                continue
            history = self._remember(url, scrape)
            for key, value in scrape.in_flight.items():
                values["in_flight_now"][key] = values["in_flight_now"].get(key, 0.0) + value
            for key, mean in _mean_in_flight(history, scrape.at - self._window_s).items():
                values["in_flight"][key] = values["in_flight"].get(key, 0.0) + mean
            base = history[0]
            elapsed = scrape.at - base.at
            if elapsed <= 0:
                continue
            for slot, value in scrape.counters.items():
                before = base.counters.get(slot, 0.0)
                increase = value - before if value >= before else value  # a reset: restarted
                name, key = slot
                rate = increase / elapsed
                values[name][key] = values[name].get(key, 0.0) + rate * self._window_s
        return _snapshot(self._window_s, values)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _scrape(self, url: str) -> _Scrape:
        try:
            response = await self._client.get(url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise Unavailable(f"{exc!r}") from exc
        return parse_metrics(response.text, self._clock())

    def _remember(self, url: str, scrape: _Scrape) -> deque[_Scrape]:
        """Adds `scrape` and drops samples older than the window, keeping the newest one at or
        before the window's start as the base of the increase."""
        history = self._history.setdefault(url, deque())
        history.append(scrape)
        horizon = scrape.at - self._window_s
        while len(history) > 1 and history[1].at <= horizon:
            history.popleft()
        return history
