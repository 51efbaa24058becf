"""The chart's autoscaling (values `autoscaling`, docs/deploy.md "Autoscaling"), offline.

keda: a ScaledObject per tier above the first on OUR scaler (external-push, the autoscaler's
Service, scalerMetadata naming the tier, from zero), prometheus triggers for the first tier and the
mesh, all valid against KEDA's CRD in ../shared/reference; direct: a Role with exactly get/patch on
the tier objects' scale and nothing else, HPAs valid for kubernetes-validate (the generic tests in
test_chart.py run every combination through both); off: nothing of it. The autoscaler's section of
the mounted config loads in its own settings class.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from codecascade.autoscaler.config import AutoscalerSettings, TierObject
from codecascade.mesh.settings import ServiceSettings

from .conftest import ROOT, Rendered, requires_helm, run_helm, template_args
from .test_chart import crd_validator

Renderer = Callable[..., Rendered]
VALUES = ROOT / "tests" / "charts" / "values"
KEDA = (VALUES / "autoscaling-keda.yaml",)
DIRECT = (VALUES / "autoscaling-direct.yaml",)
SCALER = "codecascade-autoscaler.codecascade.svc.cluster.local:50063"


def _config(rendered: Rendered) -> dict[str, Any]:
    cm = rendered.get("ConfigMap", "codecascade-mesh")
    return yaml.safe_load(cm["data"]["config.yaml"])  # type: ignore[no-any-return]


def _spec(rendered: Rendered, kind: str, name: str) -> dict[str, Any]:
    return rendered.get(kind, name)["spec"]  # type: ignore[no-any-return]


def test_off_renders_no_autoscaling(renderer: Renderer) -> None:
    rendered = renderer(())
    kinds = {d["kind"] for d in rendered.docs}
    assert not kinds & {"ScaledObject", "HorizontalPodAutoscaler", "Role", "RoleBinding"}
    assert not [d for d in rendered.docs if d["metadata"]["name"].endswith("-autoscaler")]
    assert "autoscaler" not in _config(rendered)
    for dep in rendered.of_kind("Deployment"):
        assert "replicas" in dep["spec"], dep["metadata"]["name"]


def test_keda_scales_tiers_above_the_first_through_our_scaler(renderer: Renderer) -> None:
    rendered = renderer(KEDA)
    objects = {d["metadata"]["name"]: d for d in rendered.of_kind("ScaledObject")}
    assert set(objects) == {
        "codecascade-tier-s",
        "codecascade-tier-m",
        "codecascade-tier-l",
        "codecascade-router",
        "codecascade-testsynth",
        "codecascade-sandbox",
    }
    for tier, top in (("M", 3), ("L", 2)):
        spec = objects[f"codecascade-tier-{tier.lower()}"]["spec"]
        assert spec["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"codecascade-tier-{tier.lower()}-predictor",
        }
        assert spec["minReplicaCount"] == 0 and spec["maxReplicaCount"] == top
        assert spec["cooldownPeriod"] == 120 and spec["pollingInterval"] == 5
        # stale signals (UNAVAILABLE): KEDA keeps at least one replica, never scales down
        assert spec["fallback"] == {
            "failureThreshold": 3,
            "replicas": 1,
            "behavior": "currentReplicasIfHigher",
        }
        assert spec["triggers"] == [
            {"type": "external-push", "metadata": {"scalerAddress": SCALER, "tier": tier}}
        ]
    first = objects["codecascade-tier-s"]["spec"]
    assert first["minReplicaCount"] == 1
    (trigger,) = first["triggers"]
    assert trigger["type"] == "prometheus"
    assert 'tier="S"' in trigger["metadata"]["query"]
    assert 'job="codecascade-router"' in trigger["metadata"]["query"]
    sandbox = objects["codecascade-sandbox"]["spec"]["triggers"][0]["metadata"]
    assert "codecascade_sandbox_pool_in_use" in sandbox["query"]
    assert float(sandbox["threshold"]) == pytest.approx(0.7 * 2)  # occupancy x pool_size
    # KServe makes no HPA of its own for a predictor KEDA scales; Helm does not reset replicas.
    for isvc in rendered.of_kind("InferenceService"):
        assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "external"
    # Replicas always rendered (Helm's merge would otherwise reset them to 1): the live count on
    # upgrade (lookup), the floor when there is none (here: helm template).
    for name, floor in (("router", 2), ("testsynth", 2), ("sandbox", 2)):
        assert _spec(rendered, "Deployment", f"codecascade-{name}")["replicas"] == floor
    assert _spec(rendered, "Deployment", "codecascade-autoscaler")["replicas"] == 2
    assert not rendered.of_kind("Role") and not rendered.of_kind("RoleBinding")


def test_keda_scaled_objects_match_kedas_crd(renderer: Renderer) -> None:
    validator = crd_validator("keda.sh", "ScaledObject", "v1alpha1")
    docs = renderer(KEDA).of_kind("ScaledObject")
    assert docs
    for doc in docs:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, (doc["metadata"]["name"], errors)
    bad = json.loads(json.dumps(docs[0]))
    bad["spec"]["minReplicas"] = 0  # HPA's spelling, not KEDA's: the CRD rejects it
    assert list(validator.iter_errors(bad))


def test_keda_network_policy_lets_keda_in_and_reaches_prometheus(renderer: Renderer) -> None:
    spec = _spec(renderer(KEDA), "NetworkPolicy", "codecascade-autoscaler")
    grpc_in = [r for r in spec["ingress"] if {"port": 50063, "protocol": "TCP"} in r["ports"]]
    assert grpc_in and grpc_in[0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}}
    ]
    assert any(r["ports"] == [{"port": 9090, "protocol": "TCP"}] for r in spec["egress"])
    assert not any({"port": 443, "protocol": "TCP"} in r["ports"] for r in spec["egress"])


def test_direct_role_is_exactly_the_tier_objects_scale(renderer: Renderer) -> None:
    rendered = renderer(DIRECT)
    (role,) = rendered.of_kind("Role")
    assert role["rules"] == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments/scale"],
            "resourceNames": ["codecascade-tier-m", "codecascade-tier-l-predictor"],
            "verbs": ["get", "patch"],
        }
    ]
    (binding,) = rendered.of_kind("RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "codecascade-autoscaler",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "codecascade-autoscaler", "namespace": "codecascade"}
    ]
    assert not rendered.of_kind("ClusterRole") and not rendered.of_kind("ClusterRoleBinding")
    pod = _spec(rendered, "Deployment", "codecascade-autoscaler")["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True
    assert pod["serviceAccountName"] == "codecascade-autoscaler"
    assert _spec(rendered, "Deployment", "codecascade-tier-m")["replicas"] == 0  # triton.replicas
    egress = _spec(rendered, "NetworkPolicy", "codecascade-autoscaler")["egress"]
    assert any({"port": 443, "protocol": "TCP"} in r["ports"] for r in egress)
    # no Prometheus: the autoscaler scrapes the routers, whose policy lets it in
    router_in = _spec(rendered, "NetworkPolicy", "codecascade-router")["ingress"]
    assert any(
        r["from"][0]["podSelector"]["matchLabels"].get("app.kubernetes.io/component")
        == "autoscaler"
        and r["ports"] == [{"port": 9464, "protocol": "TCP"}]
        for r in router_in
    )


def test_direct_inference_service_target_is_named_in_the_role(
    renderer: Renderer, tmp_path: Path
) -> None:
    values = yaml.safe_load((VALUES / "autoscaling-direct.yaml").read_text())
    values["autoscaling"]["kserveTarget"] = "inferenceService"
    values["tiers"][2]["kserve"]["minReplicas"] = 1
    path = tmp_path / "isvc.yaml"
    path.write_text(yaml.safe_dump(values))
    rendered = renderer((path,))
    (role,) = rendered.of_kind("Role")
    assert role["rules"] == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments/scale"],
            "resourceNames": ["codecascade-tier-m"],
            "verbs": ["get", "patch"],
        },
        {
            "apiGroups": ["serving.kserve.io"],
            "resources": ["inferenceservices"],
            "resourceNames": ["codecascade-tier-l"],
            "verbs": ["get", "patch"],
        },
    ]
    targets = _config(rendered)["autoscaler"]["kube_targets"]
    assert targets["L"] == {"kind": "inferenceservice", "name": "codecascade-tier-l"}
    isvc = rendered.get("InferenceService", "codecascade-tier-l")
    assert "serving.kserve.io/autoscalerClass" not in isvc["metadata"]["annotations"]


@pytest.mark.parametrize("values", [KEDA, DIRECT], ids=["keda", "direct"])
def test_autoscaler_section_loads_in_its_settings(
    renderer: Renderer, values: tuple[Path, ...], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    section = _config(renderer(values))["autoscaler"]
    assert section["chain"] == ["S", "M", "L"] and section["scaled_tiers"] == ["M", "L"]
    assert section["tiers"]["L"]["min_replicas"] == 0
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"autoscaler": section}))
    for name in list(__import__("os").environ):
        if name.upper() in {f.upper() for f in AutoscalerSettings.model_fields}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("CODECASCADE_CONFIG", str(path))
    settings = AutoscalerSettings()
    assert settings.mode == section["mode"]
    assert settings.scaling("L").min_replicas == 0
    if section["mode"] == "direct":
        assert settings.signal_source == "scrape"
        assert settings.router_metrics_resolve  # the headless router Service: every pod
        targets = {k: TierObject.model_validate(v) for k, v in section["kube_targets"].items()}
        assert targets["M"] == TierObject(kind="deployment", name="codecascade-tier-m")
        assert section["kube_namespace"] == "codecascade"
    else:
        assert settings.signal_source == "prometheus"
        assert settings.prometheus_matchers == 'namespace="codecascade",job="codecascade-router"'


_KEDA_TIERS = yaml.safe_load((VALUES / "autoscaling-keda.yaml").read_text())["tiers"]
REFUSED = [
    ({"tiers": _KEDA_TIERS}, "minReplicas is 0 with autoscaling.mode off"),
    (
        {"autoscaling": {"mode": "keda", "kserveTarget": "inferenceService"}},
        "works in mode direct only",
    ),
    ({"autoscaling": {"mode": "keda"}}, "set autoscaling.prometheus.address"),
    (
        {
            "autoscaling": {
                "mode": "direct",
                "mesh": {"router": {"minReplicas": 5, "maxReplicas": 3}},
            }
        },
        "autoscaling.mesh.router.maxReplicas (3) is below minReplicas (5)",
    ),
]


@requires_helm
@pytest.mark.parametrize(("values", "mentions"), REFUSED, ids=[m for _, m in REFUSED])
def test_inconsistent_autoscaling_is_refused(
    values: dict[str, Any], mentions: str, tmp_path: Path
) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    result = run_helm(*template_args(values_files=[path]))
    assert result.returncode != 0, f"{values} was accepted"
    assert mentions in result.stderr, result.stderr


@requires_helm
@pytest.mark.parametrize(
    "sets", [["autoscaling.mode=on"], ["autoscaling.kserveTarget=isvc"], ["autoscaling.keda.x=1"]]
)
def test_schema_rejects_bad_autoscaling_values(sets: list[str]) -> None:
    result = run_helm(*template_args(sets=sets))
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr


# What the chart writes itself into the autoscaler's section (not user settings).
CHART_OWNED = {
    "mode",
    "chain",
    "signal_source",
    "prometheus_url",
    "prometheus_matchers",
    "router_metrics_urls",
    "router_metrics_resolve",
    "scaled_tiers",
    "kube_namespace",
    "kube_targets",
    "kubeconfig",
}


def test_autoscaler_settings_schema_mirrors_its_settings_class() -> None:
    schema = json.loads((ROOT / "charts" / "codecascade" / "values.schema.json").read_text())
    props = schema["properties"]["autoscaler"]["properties"]["settings"]["properties"]
    fields = set(AutoscalerSettings.model_fields)
    assert set(props) <= fields
    assert not set(props) & CHART_OWNED
    own = fields - set(ServiceSettings.model_fields) - CHART_OWNED
    assert own <= set(props), f"settings missing from values.schema.json: {own - set(props)}"
    values = yaml.safe_load((ROOT / "charts" / "codecascade" / "values.yaml").read_text())
    assert values["autoscaler"]["grpcPort"] == AutoscalerSettings.model_fields["grpc_port"].default
