"""The Prometheus launcher against the real binary: it scrapes, answers queries, keeps exemplars,
and is gone (by PID) once the context exits."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server

from codecascade.cli.prometheus import ScrapeJob, prometheus_running
from codecascade.cli.supervisor import free_port

pytestmark = pytest.mark.asyncio


async def _query(client: httpx.AsyncClient, url: str, expr: str) -> list[dict[str, object]]:
    response = await client.get(f"{url}/api/v1/query", params={"query": expr})
    response.raise_for_status()
    result: list[dict[str, object]] = response.json()["data"]["result"]
    return result


async def test_scrapes_labels_and_exemplars(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    hits = Counter("demo_hits", "Hits.", ["tier"], registry=registry)
    hits.labels("M").inc(exemplar={"trace_id": "0af7651916cd43dd8448eb211c80319c"})
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        job = ScrapeJob("router", [f"127.0.0.1:{port}"], labels={"service": "router"})
        async with prometheus_running([job], workdir=tmp_path, scrape_interval_s=0.5) as prom:
            pid = prom.pid
            async with httpx.AsyncClient(timeout=5.0) as client:
                deadline = time.monotonic() + 20
                series: list[dict[str, object]] = []
                while not series and time.monotonic() < deadline:
                    series = await _query(client, prom.url, "demo_hits_total")
                assert series, "no sample scraped within 20 s"
                labels = series[0]["metric"]
                assert isinstance(labels, dict)
                assert labels["job"] == "router"
                assert labels["service"] == "router"
                assert labels["tier"] == "M"
                exemplars = (
                    await client.get(
                        f"{prom.url}/api/v1/query_exemplars",
                        params={"query": "demo_hits_total", "start": 0, "end": time.time() + 60},
                    )
                ).json()["data"]
                trace_ids = {
                    e["labels"]["trace_id"] for group in exemplars for e in group["exemplars"]
                }
                assert "0af7651916cd43dd8448eb211c80319c" in trace_ids
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
