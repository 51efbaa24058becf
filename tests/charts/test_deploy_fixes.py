"""Deployment defects of issue 15, checked offline: GPU only on a real GPU runtime, tiers that can
start (no storage initializer for pvc://, no scale-to-zero that KServe ignores, no Serverless with
two ports), Secret rotation rolls the callers, the router's ingress closed by default, tier metrics
reachable, pass-through labels/annotations, and digests required in production."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.charts.conftest import (
    ROOT,
    Rendered,
    requires_helm,
    run_helm,
    template_args,
)

pytestmark = requires_helm
Renderer = Callable[..., Rendered]

_TIER = {
    "name": "S",
    "backend": "kserve",
    "model": "S",
    "price_per_1k_tokens": 0.0,
    "kserve": {
        "storageUri": "pvc://codecascade-models/",
        "modelFile": "S",
        "threads": 1,
        "nCtx": 2048,
        "minReplicas": 1,
        "maxReplicas": 1,
    },
}


def _values(tmp_path: Path, data: dict) -> Path:  # type: ignore[type-arg]
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _tier(**over: object) -> dict:  # type: ignore[type-arg]
    tier = yaml.safe_load(yaml.safe_dump(_TIER))
    for key, value in over.items():
        if key == "kserve":
            tier["kserve"].update(value)
        else:
            tier[key] = value
    return dict(tier)


def _render(tmp_path: Path, data: dict, *sets: str) -> Rendered:  # type: ignore[type-arg]
    from tests.charts.conftest import render

    return render([_values(tmp_path, data)], sets)


def _refused(tmp_path: Path, data: dict, *sets: str) -> str:  # type: ignore[type-arg]
    result = run_helm(*template_args([_values(tmp_path, data)], sets))
    assert result.returncode != 0, f"{data} {sets} was accepted"
    return result.stderr


@pytest.mark.parametrize("where", ["limits", "requests"])
def test_gpu_on_the_llamacpp_kserve_backend_is_refused(tmp_path: Path, where: str) -> None:
    tier = _tier(resources={where: {"nvidia.com/gpu": 1}})
    err = _refused(
        tmp_path, {"tiers": [tier], "policy": {"version": 1, "tiers": [{"tier": "S", "k": 0}]}}
    )
    assert "nvidia.com/gpu" in err or "resources" in err, err


def test_prod_serves_its_gpu_tiers_with_triton(renderer: Renderer) -> None:
    prod = yaml.safe_load((ROOT / "k8s" / "values-prod.yaml").read_text())
    gpu = [
        t for t in prod["tiers"] if "nvidia.com/gpu" in (t.get("resources", {}).get("limits") or {})
    ]
    assert gpu and all(t["backend"] == "triton" and "vllm" in t["triton"]["image"] for t in gpu)


def test_min_replicas_zero_and_serverless_are_refused(tmp_path: Path) -> None:
    policy = {"version": 1, "tiers": [{"tier": "S", "k": 0}]}
    err = _refused(tmp_path, {"tiers": [_tier(kserve={"minReplicas": 0})], "policy": policy})
    assert "minReplicas" in err
    err = _refused(tmp_path, {"tierRuntime": {"deploymentMode": "Serverless"}})
    assert "deploymentMode" in err
    err = _refused(
        tmp_path, {"tiers": [_tier(kserve={"minReplicas": 3, "maxReplicas": 2})], "policy": policy}
    )
    assert "maxReplicas (2) is below minReplicas (3)" in err


def test_pvc_models_are_mounted_without_the_storage_initializer(tmp_path: Path) -> None:
    policy = {"version": 1, "tiers": [{"tier": "S", "k": 0}, {"tier": "T", "k": 0}]}
    tiers = [
        _tier(kserve={"storageUri": "pvc://models/gguf/sub"}),
        _tier(
            name="T",
            model="T",
            kserve={"storageUri": "s3://bucket/x.gguf", "modelFile": "/mnt/models/x.gguf"},
        ),
    ]
    out = _render(tmp_path, {"tiers": tiers, "policy": policy})
    by_tier = {
        d["metadata"]["labels"]["codecascade/tier"]: d["spec"]["predictor"]
        for d in out.of_kind("InferenceService")
    }
    s, t = by_tier["s"], by_tier["t"]
    assert "storageUri" not in s["model"]  # no storage initializer: restricted PSS holds
    assert s["volumes"] == [
        {"name": "models", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}}
    ]
    assert s["model"]["volumeMounts"] == [
        {"name": "models", "mountPath": "/mnt/models", "readOnly": True, "subPath": "gguf/sub"}
    ]
    assert t["model"]["storageUri"] == "s3://bucket/x.gguf" and "volumes" not in t
    defaults = _render(tmp_path, {})
    for isvc in defaults.of_kind("InferenceService"):
        assert (
            isvc["spec"]["predictor"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
            == "codecascade-models"
        )
    pvc = yaml.safe_load((ROOT / "k8s" / "pvc-models.yaml").read_text())
    assert pvc["metadata"]["name"] == "codecascade-models"
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]


def _annotation(out: Rendered, component: str, key: str) -> str | None:
    (dep,) = [
        d
        for d in out.of_kind("Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    return dep["spec"]["template"]["metadata"]["annotations"].get(key)  # type: ignore[no-any-return]


def test_rotating_a_tier_key_secret_rolls_router_and_testsynth(tmp_path: Path) -> None:
    base = yaml.safe_load(
        (ROOT / "tests" / "charts" / "values" / "external-tiers.yaml").read_text()
    )
    one = _render(tmp_path, base)
    base["tenantSecrets"][0]["stringData"]["api-key"] = "sk-rotated"
    two = _render(tmp_path, base)
    for component in ("router", "testsynth"):
        a, b = (
            _annotation(one, component, "checksum/tier-secrets"),
            _annotation(two, component, "checksum/tier-secrets"),
        )
        assert a and b and a != b, component
    assert _annotation(one, "sandbox", "checksum/tier-secrets") is None


def test_router_ingress_is_closed_by_default(renderer: Renderer) -> None:
    out = renderer(())
    (policy,) = [
        p for p in out.of_kind("NetworkPolicy") if p["metadata"]["name"].endswith("-router")
    ]
    assert policy["spec"]["ingress"][0]["from"] == [
        {"podSelector": {"matchLabels": {"codecascade/router-client": "true"}}}
    ]


def test_tier_metrics_are_scraped_and_allowed(renderer: Renderer, tmp_path: Path) -> None:
    out = _render(
        tmp_path,
        {
            "serviceMonitor": {"enabled": True},
            "networkPolicy": {
                "metricsFrom": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]
            },
        },
    )
    (pm,) = out.of_kind("PodMonitor")
    assert pm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "tier"
    assert [e["port"] for e in pm["spec"]["podMetricsEndpoints"]] == ["http1"]
    (tier_np,) = [
        p for p in out.of_kind("NetworkPolicy") if p["metadata"]["name"].endswith("-tier")
    ]
    rule = tier_np["spec"]["ingress"][-1]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]
    assert rule["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert not renderer(()).of_kind("PodMonitor")


def test_labels_and_annotations_pass_through(tmp_path: Path) -> None:
    tier = _tier(
        annotations={"serving.kserve.io/autoscalerClass": "hpa"},
        labels={"team": "ml"},
        podAnnotations={"a": "b"},
        podLabels={"cost-center": "42"},
    )
    out = _render(
        tmp_path,
        {
            "tiers": [tier],
            "policy": {"version": 1, "tiers": [{"tier": "S", "k": 0}]},
            "router": {
                "podLabels": {"codecascade/router-client": "true", "x": "z"},
                "annotations": {"owner": "me"},
                "labels": {"team": "edge"},
            },
        },
    )
    (isvc,) = out.of_kind("InferenceService")
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "hpa"
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    assert isvc["metadata"]["labels"]["team"] == "ml"
    assert isvc["spec"]["predictor"]["annotations"] == {"a": "b"}
    assert isvc["spec"]["predictor"]["labels"]["cost-center"] == "42"
    (router,) = [d for d in out.of_kind("Deployment") if d["metadata"]["name"].endswith("-router")]
    assert router["metadata"]["annotations"] == {"owner": "me"}
    assert router["metadata"]["labels"]["team"] == "edge"
    assert router["spec"]["template"]["metadata"]["labels"]["x"] == "z"


def test_production_requires_digests(tmp_path: Path) -> None:
    prod = ROOT / "k8s" / "values-prod.yaml"
    assert yaml.safe_load(prod.read_text())["requireImageDigests"] is True
    result = run_helm(
        "template", "codecascade", str(ROOT / "charts" / "codecascade"), "-f", str(prod)
    )
    assert result.returncode != 0
    assert "requireImageDigests: set image.digest" in result.stderr
    err = _refused(
        tmp_path, {"requireImageDigests": True, "image": {"digest": "sha256:" + "a" * 64}}
    )
    assert "tierImage.digest" in err
