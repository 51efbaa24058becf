"""`cascade generate` and the router in one trace, exported by the SDK's console exporter: the
gRPC instrumentation's CLIENT span (ended when the stream ends, not when the abandoned iterator is
collected) is the parent of the router's SERVER span, which holds the workflow and its escalation.

A fresh process: the global tracer provider `setup_telemetry` installs can be set only once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = """
import asyncio, io
from codecascade.mesh.telemetry import setup_telemetry
telemetry = setup_telemetry("cli-check")
from codecascade.cli.generate import generate
from codecascade.mesh.server import running_server
from codecascade.mesh.settings import ServiceSettings
from tests.contract.router.test_servicer import _Service, _cascade, _request, T, F
from tests.unit.router.test_cascade import Scripted

async def main():
    scripted = Scripted({"S": "meh", "M": "ok"}, {}, {"S": [[T, F], [F, F]], "M": [[T, T], [T, T]]})
    async with running_server(ServiceSettings(grpc_port=0), _Service(_cascade(scripted))) as server:
        await generate(server.address, _request(), timeout_s=30, out=io.StringIO())
    telemetry.shutdown()  # inside the loop, as `cascade up` flushes before it stops

asyncio.run(main())
"""


def _spans(stdout: str) -> list[dict[str, Any]]:
    decoder, spans, at = json.JSONDecoder(), [], stdout.find("{")
    while at >= 0:
        try:
            value, end = decoder.raw_decode(stdout, at)
        except json.JSONDecodeError:
            at = stdout.find("{", at + 1)
            continue
        if isinstance(value, dict) and "context" in value:
            spans.append(value)
        at = stdout.find("{", end)
    return spans


def test_generate_and_the_router_are_one_trace() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**env, "OTEL_TRACES_EXPORTER": "console"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    spans = {s["name"]: s for s in _spans(result.stdout)}
    client = spans["/codecascade.v1.CascadeService/GenerateStream"]
    server = spans["codecascade.v1.CascadeService/GenerateStream"]
    workflow = spans["invoke_workflow codecascade"]
    assert client["kind"] == "SpanKind.CLIENT" and server["kind"] == "SpanKind.SERVER"
    assert client["attributes"]["rpc.grpc.status_code"] == 0
    assert server["parent_id"] == client["context"]["span_id"]
    assert workflow["parent_id"] == server["context"]["span_id"]
    assert {s["context"]["trace_id"] for s in spans.values()} == {client["context"]["trace_id"]}
    assert [e["name"] for e in workflow["events"]] == ["codecascade.escalation"]
