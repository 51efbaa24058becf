"""What the public edge adds to a request: authentication, rate limits and the budget ledger.

Per request, as the router's servicer does it for one tier call: authenticate the key (a stat of
the tenants file, a sha256, a lookup), admit under the tenant's rate limits, reserve the tier's
worst case on the tenant's and its organisation's accounts, settle the actual cost. Measured in
process against each store: the in-process one, and Redis (Debian's redis-server, started here
on a free loopback port; every reserve and settle is one Lua script round trip).

    python benchmarks/tenancy.py --requests 2000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codecascade.tenancy.edge import Edge
from codecascade.tenancy.ledger import Ledger, LedgerStore
from codecascade.tenancy.memory import MemoryStore
from codecascade.tenancy.ratelimit import RateLimiter
from codecascade.tenancy.redis_store import RedisStore
from codecascade.tenancy.tenants import (
    Budget,
    Organisation,
    RateLimits,
    Tenant,
    TenantDirectory,
)
from tests.integration.tenancy.redis_server import RedisServer, fresh_prefix
from tests.unit.tenancy.helpers import keyed, write


async def _measure(store: LedgerStore, path: Path, key: str, requests: int) -> list[float]:
    edge = Edge(TenantDirectory(path), Ledger(store), RateLimiter())
    took = []
    for _ in range(requests):
        started = time.perf_counter()
        caller = edge.authenticate(f"Bearer {key}", "default")
        slot = edge.admit(caller)
        hold = await edge.ledger.reserve(caller, 0.001, hold_s=60)
        await hold.settle(0.0005, tier="S", tokens=50)
        slot.release()
        took.append(time.perf_counter() - started)
    return took


def _report(name: str, took: list[float]) -> None:
    ms = sorted(t * 1000 for t in took)
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(f"{name:<7} p50 {statistics.median(ms):6.3f} ms  p95 {p95:6.3f} ms  ({len(ms)} requests)")


async def main(requests: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "tenants.yaml"
        tenant, key = keyed(
            Tenant(
                id="bench",
                organisation="acme",
                budget=Budget(period="day", usd=1e6, lifetime_usd=1e6),
                rate_limits=RateLimits(requests_per_min=1e9, concurrent_requests=100),
            )
        )
        write(path, tenant, organisations=(Organisation(id="acme", budget=Budget(usd=1e6)),))
        _report("memory", await _measure(MemoryStore(), path, key, requests))
        server = RedisServer(Path(scratch))
        server.start()
        try:
            store = RedisStore(server.url, prefix=fresh_prefix())
            await _measure(store, path, key, 50)  # load the scripts, open the connection
            _report("redis", await _measure(store, path, key, requests))
            await store.close()
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    asyncio.run(main(parser.parse_args().requests))
