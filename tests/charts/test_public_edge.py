"""The router's public edge in the chart (issues 17 and 20): tenants file, TLS, ledger store,
admission, the OpenAI-compatible HTTP port, named policies, and the optional Ingress/Gateway
routes; rendered with `helm template`, asserted on the parsed YAML."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from codecascade.router.policy import CascadePolicy

from .conftest import CHART, Rendered, requires_helm, run_helm, template_args

Renderer = Callable[..., Rendered]
EDGE = (Path(__file__).parent / "values" / "public-edge.yaml",)
SECRETS = "/var/run/secrets/codecascade"


def _router(rendered: Rendered) -> tuple[dict[str, Any], dict[str, Any]]:
    deploy = next(
        d for d in rendered.of_kind("Deployment") if d["metadata"]["name"].endswith("-router")
    )
    return deploy["spec"]["template"]["spec"], deploy["spec"]["template"]["spec"]["containers"][0]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def _router_service(rendered: Rendered) -> dict[str, Any]:
    return next(d for d in rendered.of_kind("Service") if d["metadata"]["name"].endswith("-router"))


def _fails(tmp_path: Path, values: dict[str, Any], mentions: str) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    result = run_helm(*template_args(values_files=[path]))
    assert result.returncode != 0, f"{values} was accepted"
    assert mentions in result.stderr, result.stderr


def test_defaults_serve_http_on_all_addresses_and_keep_the_edge_off(renderer: Renderer) -> None:
    rendered = renderer(())
    pod, container = _router(rendered)
    env = _env(container)
    assert env["HTTP_HOST"] == "0.0.0.0" and env["HTTP_PORT"] == "8000"
    assert env["LEDGER_STORE"] == "memory"
    for name in (
        "TENANTS_FILE",
        "TLS_PORT",
        "TLS_CERT_FILE",
        "REDIS_URL",
        "POLICIES",
        "HTTP_ENABLED",
    ):
        assert name not in env, name
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in container["ports"]
    ports = {p["name"]: p for p in _router_service(rendered)["spec"]["ports"]}
    assert ports["http"]["port"] == 8000 and ports["http"]["appProtocol"] == "http"
    assert "tls" not in ports
    assert not rendered.of_kind("Ingress") and not rendered.of_kind("GRPCRoute")
    assert {v["name"] for v in pod["volumes"]} == {"config", "tmp"}


@requires_helm
def test_http_port_zero_turns_the_http_api_off(renderer: Renderer) -> None:
    rendered = renderer((), ["router.http.port=0"])
    _, container = _router(rendered)
    env = _env(container)
    assert env["HTTP_ENABLED"] == "false" and "HTTP_PORT" not in env
    assert "http" not in {p["name"] for p in container["ports"]}
    assert "http" not in {p["name"] for p in _router_service(rendered)["spec"]["ports"]}


def test_public_edge_env_ports_and_mounts(renderer: Renderer) -> None:
    rendered = renderer(EDGE)
    pod, container = _router(rendered)
    env = _env(container)
    assert env["TENANTS_FILE"] == f"{SECRETS}/tenants/tenants.yaml"
    assert env["TLS_PORT"] == "50061" and env["TLS_HOST"] == "0.0.0.0"
    assert env["TLS_CERT_FILE"] == f"{SECRETS}/tls/tls.crt"
    assert env["TLS_KEY_FILE"] == f"{SECRETS}/tls/tls.key"
    assert env["TLS_CLIENT_CA_FILE"] == f"{SECRETS}/client-ca/ca.crt"
    assert env["LEDGER_STORE"] == "redis" and env["REDIS_URL"] == "redis://redis:6380/0"
    assert env["REDIS_PASSWORD"] == {
        "secretKeyRef": {"name": "codecascade-redis", "key": "password"}
    }
    assert env["HTTP_PORT"] == "8080"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    for name in ("tenants", "tls", "client-ca"):
        # A directory mount, never subPath: a changed Secret reaches the file (reload, no restart).
        assert mounts[name]["mountPath"] == f"{SECRETS}/{name}" and "subPath" not in mounts[name]
        assert mounts[name]["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["tenants"]["secret"]["secretName"] == "codecascade-tenants"
    assert volumes["tls"]["secret"]["secretName"] == "codecascade-router-tls"
    assert volumes["client-ca"]["secret"]["secretName"] == "codecascade-client-ca"
    names = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert names["tls"] == 50061 and names["http"] == 8080
    ports = {p["name"]: p for p in _router_service(rendered)["spec"]["ports"]}
    assert ports["tls"]["targetPort"] == "tls" and ports["tls"]["appProtocol"] == "grpc"
    assert ports["http"]["port"] == 8080 and ports["http"]["appProtocol"] == "http"
    # The tenants Secret is out of band here: the chart makes none.
    assert not [s for s in rendered.of_kind("Secret") if s["metadata"]["name"].endswith("-tenants")]


def test_admission_settings_reach_the_config(renderer: Renderer) -> None:
    rendered = renderer(EDGE)
    cm = next(d for d in rendered.of_kind("ConfigMap") if d["metadata"]["name"].endswith("-mesh"))
    router = yaml.safe_load(cm["data"]["config.yaml"])["router"]
    assert router["admission_slots"] == {"L": 4}
    assert router["admission_max_queue"] == 16 and router["admission_max_wait_s"] == 10.0


def test_named_policies_are_mounted_and_listed_in_policies(renderer: Renderer) -> None:
    rendered = renderer(EDGE)
    _, container = _router(rendered)
    policies = json.loads(_env(container)["POLICIES"])
    assert set(policies) == {"budget-low"}
    cm = next(d for d in rendered.of_kind("ConfigMap") if d["metadata"]["name"].endswith("-mesh"))
    mounted = Path(policies["budget-low"])
    assert mounted.parent == Path("/etc/codecascade")
    assert yaml.safe_load(cm["data"][mounted.name])["tiers"][0]["max_tokens"] == 256

    CascadePolicy.model_validate(yaml.safe_load(cm["data"][mounted.name]))


def test_network_policy_opens_tls_http_and_redis(renderer: Renderer) -> None:
    rendered = renderer(EDGE)
    netpol = next(
        d for d in rendered.of_kind("NetworkPolicy") if d["metadata"]["name"].endswith("-router")
    )
    ingress = netpol["spec"]["ingress"][0]
    assert {p["port"] for p in ingress["ports"]} == {50060, 50061, 8080}
    egress_ports = {p["port"] for rule in netpol["spec"]["egress"] for p in rule.get("ports", [])}
    assert 6380 in egress_ports
    default = next(
        d
        for d in renderer(()).of_kind("NetworkPolicy")
        if d["metadata"]["name"].endswith("-router")
    )
    assert {p["port"] for p in default["spec"]["ingress"][0]["ports"]} == {50060, 8000}


def test_http_ingress_streams(renderer: Renderer) -> None:
    ingress = renderer(EDGE).of_kind("Ingress")
    assert len(ingress) == 1
    spec, notes = ingress[0]["spec"], ingress[0]["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert float(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600.0
    path = spec["rules"][0]["http"]["paths"][0]
    assert path["path"] == "/v1" and path["backend"]["service"]["port"]["name"] == "http"
    assert spec["tls"] == [
        {"secretName": "codecascade-router-tls", "hosts": ["cascade.example.com"]}
    ]


def test_grpc_ingress_and_gateway_routes(renderer: Renderer) -> None:
    sets = [
        "router.ingress.grpc.enabled=true",
        "router.gateway.grpcRoute.enabled=true",
        "router.gateway.grpcRoute.parentRefs[0].name=gw",
        "router.gateway.httpRoute.enabled=true",
        "router.gateway.httpRoute.parentRefs[0].name=gw",
    ]
    rendered = renderer(EDGE, sets)
    grpc = next(d for d in rendered.of_kind("Ingress") if d["metadata"]["name"].endswith("-grpc"))
    assert grpc["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPC"
    assert (
        grpc["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["name"] == "grpc"
    )
    (route,) = rendered.of_kind("GRPCRoute")
    assert route["spec"]["parentRefs"] == [{"name": "gw"}]
    assert route["spec"]["rules"][0]["backendRefs"][0]["port"] == 50060
    (http,) = rendered.of_kind("HTTPRoute")
    rule = http["spec"]["rules"][0]
    assert rule["matches"][0]["path"] == {"type": "PathPrefix", "value": "/v1"}
    assert rule["timeouts"]["request"] == "630s" and rule["backendRefs"][0]["port"] == 8080


def test_chart_made_tenants_secret(renderer: Renderer) -> None:
    rendered = renderer(
        (), ["router.replicas=1", "router.tenants.enabled=true", "router.tenants.file.version=1"]
    )
    (secret,) = [
        s for s in rendered.of_kind("Secret") if s["metadata"]["name"].endswith("-router-tenants")
    ]
    assert yaml.safe_load(secret["stringData"]["tenants.yaml"]) == {"version": 1}
    pod, _ = _router(rendered)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["tenants"]["secret"]["secretName"] == secret["metadata"]["name"]


@requires_helm
@pytest.mark.parametrize(
    ("values", "mentions"),
    [
        (
            {"router": {"replicas": 2, "tenants": {"enabled": True, "existingSecret": "t"}}},
            "router.replicas is 2 with router.ledger.store memory and tenants on",
        ),
        ({"router": {"tenants": {"enabled": True}, "replicas": 1}}, "router.tenants.enabled needs"),
        ({"router": {"tls": {"enabled": True}}}, "router.tls.enabled needs router.tls.secretName"),
        ({"router": {"tls": {"clientCaSecret": "ca"}}}, "router.tls.clientCaSecret (mTLS) needs"),
        (
            {"router": {"http": {"port": 0}, "ingress": {"http": {"enabled": True}}}},
            "router.ingress.http.enabled needs router.http.port",
        ),
        (
            {
                "router": {
                    "ingress": {
                        "http": {
                            "enabled": True,
                            "annotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "60"},
                        }
                    }
                }
            },
            "below policy.limits.max_deadline_s",
        ),
        ({"router": {"policies": {"cascade": {}}}}, "cascade"),
        ({"router": {"ledger": {"store": "etcd"}}}, "store"),
        ({"router": {"gateway": {"grpcRoute": {"enabled": True}}}}, "parentRefs"),
    ],
)
def test_public_edge_mistakes_fail_with_the_fix(
    tmp_path: Path, values: dict[str, Any], mentions: str
) -> None:
    _fails(tmp_path, values, mentions)


def test_values_file_mentions_the_public_edge_in_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    router = schema["properties"]["router"]["properties"]
    for key in ("tenants", "tls", "ledger", "http", "policies", "ingress", "gateway"):
        assert router[key]["description"], key
