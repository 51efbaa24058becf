"""The direct mode's ScaleTarget (autoscaler/kube.py) against a scripted API server double.

The real `kubernetes` client speaks HTTP to a stdlib server on 127.0.0.1 that records each request
and answers what the test scripts (a Scale, an InferenceService, a Status error). The live control
plane (tests/cluster/test_autoscaler_live.py) covers the real API server and RBAC.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from codecascade.autoscaler.config import TierObject
from codecascade.autoscaler.kube import KubeScaleTarget, ScaleError, load_api_client

NS = "cc"
OBJECTS = {
    "M": TierObject(kind="deployment", name="tier-m"),
    "L": TierObject(kind="inferenceservice", name="tier-l"),
}


@dataclass
class ApiDouble:
    """Answers every request with `status` and `body`; keeps (method, path, headers, body)."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    seen: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)


@pytest.fixture
def api() -> Iterator[tuple[ApiDouble, str]]:
    double = ApiDouble()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            double.seen.append(
                (self.command, self.path, dict(self.headers), json.loads(raw) if raw else None)
            )
            payload = json.dumps(double.body).encode()
            self.send_response(double.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PATCH = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield double, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def target(api: tuple[ApiDouble, str]) -> Iterator[KubeScaleTarget]:
    configuration = client.Configuration()
    configuration.host = api[1]
    scaler = KubeScaleTarget(
        client.ApiClient(configuration), namespace=NS, objects=OBJECTS, request_timeout_s=5
    )
    try:
        yield scaler
    finally:
        scaler.close()


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "reason": reason, "code": code}  # fmt: skip


async def test_a_deployment_is_scaled_through_its_scale_subresource(
    api: tuple[ApiDouble, str], target: KubeScaleTarget
) -> None:
    double, _ = api
    double.body = {"kind": "Scale", "apiVersion": "autoscaling/v1", "spec": {"replicas": 3}}
    await target.set_replicas("M", 3)
    method, path, headers, body = double.seen[-1]
    assert (method, path) == ("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/tier-m/scale")
    assert headers["Content-Type"] == "application/merge-patch+json"
    assert body == {"spec": {"replicas": 3}}
    assert await target.replicas("M") == 3
    assert double.seen[-1][:2] == ("GET", f"/apis/apps/v1/namespaces/{NS}/deployments/tier-m/scale")


async def test_an_inference_service_gets_min_and_max_replicas(
    api: tuple[ApiDouble, str], target: KubeScaleTarget
) -> None:
    double, _ = api
    double.body = {"spec": {"predictor": {"minReplicas": 2, "maxReplicas": 2}}}
    await target.set_replicas("L", 2)
    method, path, headers, body = double.seen[-1]
    assert method == "PATCH"
    assert path == f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices/tier-l"
    assert headers["Content-Type"] == "application/merge-patch+json"
    assert body == {"spec": {"predictor": {"minReplicas": 2, "maxReplicas": 2}}}
    assert await target.replicas("L") == 2


async def test_forbidden_names_the_verb_the_resource_and_the_object(
    api: tuple[ApiDouble, str], target: KubeScaleTarget
) -> None:
    double, _ = api
    double.status, double.body = (
        403,
        _status(
            403,
            "Forbidden",
            'deployments.apps "tier-m" is forbidden: User "system:serviceaccount:cc:as" cannot '
            'patch resource "deployments/scale" in API group "apps" in the namespace "cc"',
        ),
    )
    with pytest.raises(ScaleError) as err:
        await target.set_replicas("M", 1)
    message = str(err.value)
    assert "RBAC forbids 'patch' on deployments/scale 'tier-m' in namespace 'cc'" in message
    assert "verb 'patch' on resource 'deployments/scale' (resourceNames: tier-m)" in message
    assert "cannot patch resource" in message  # the API server's own words


async def test_a_missing_object_names_the_mapping(
    api: tuple[ApiDouble, str], target: KubeScaleTarget
) -> None:
    double, _ = api
    double.status, double.body = (
        404,
        _status(404, "NotFound", 'inferenceservices "tier-l" not found'),
    )
    with pytest.raises(
        ScaleError, match=r"inferenceservices\.serving\.kserve\.io 'tier-l' not found"
    ):
        await target.set_replicas("L", 0)


async def test_an_unknown_tier_and_bad_replicas_are_refused(target: KubeScaleTarget) -> None:
    with pytest.raises(ScaleError, match=r"tier 'XL' has no Kubernetes object .*configured: L, M"):
        await target.set_replicas("XL", 1)
    with pytest.raises(ScaleError, match="replicas must be >= 0"):
        await target.set_replicas("M", -1)


async def test_an_unreachable_api_server_is_a_scale_error() -> None:
    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:9"  # discard: nothing listens
    configuration.retries = 0
    scaler = KubeScaleTarget(client.ApiClient(configuration), namespace=NS, objects=OBJECTS)
    try:
        with pytest.raises(ScaleError, match="the API server is unreachable"):
            await scaler.set_replicas("M", 1)
    finally:
        scaler.close()


def test_missing_credentials_say_where_they_were_looked_for(tmp_path: Path) -> None:
    with pytest.raises(ScaleError, match=r"no Kubernetes credentials from .*nope\.yaml"):
        load_api_client(str(tmp_path / "nope.yaml"))
