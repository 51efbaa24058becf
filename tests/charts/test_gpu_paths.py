"""The chart's GPU tier paths and image pinning (issue 15): KServe's Hugging Face runtime with vLLM
(`backend: huggingface`, k8s/values-gpu-kserve.yaml) next to Triton with vLLM (values-prod), and
`requireImageDigests` covering every image the chart renders; the Dockerfiles' base image is a
build argument whose production value must be a digest (skaffold's prod profile checks it)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.conftest import (
    CHART,
    EXAMPLE_VALUES,
    PROD_DIGESTS,
    ROOT,
    Rendered,
    requires_helm,
    run_helm,
)

pytestmark = requires_helm
Renderer = Callable[..., Rendered]
GPU_KSERVE = ROOT / "k8s" / "values-gpu-kserve.yaml"
PROD = ROOT / "k8s" / "values-prod.yaml"
DIGEST = re.compile(r"^[^\s@]+@sha256:[0-9a-f]{64}$")


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _args(values: list[Path], sets: list[str] | tuple[str, ...] = ()) -> list[str]:
    """`helm template` with exactly these files (template_args would add PROD_DIGESTS)."""
    args = ["template", "codecascade", str(CHART), "--namespace", "codecascade"]
    for path in values:
        args += ["-f", str(path)]
    for item in sets:
        args += ["--set", item]
    return args


def _refused(values: list[Path], *sets: str) -> str:
    result = run_helm(*_args(values, sets))
    assert result.returncode != 0, f"{values} {sets} was accepted"
    return result.stderr


def _images(rendered: Rendered) -> list[str]:
    out = []
    for doc in rendered.docs:
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec") or spec
        out += [c["image"] for c in pod.get("containers", []) if "image" in c]
    return out


def test_the_gpu_kserve_example_is_shipped_and_rendered() -> None:
    assert GPU_KSERVE in EXAMPLE_VALUES  # so every offline and live chart test takes it


def test_huggingface_tiers_are_vllm_inference_services_on_gpus(renderer: Renderer) -> None:
    rendered = renderer((GPU_KSERVE,))
    values = yaml.safe_load(GPU_KSERVE.read_text())
    (runtime,) = rendered.of_kind("ServingRuntime")
    assert runtime["metadata"]["name"] == "codecascade-huggingface"
    assert runtime["spec"]["supportedModelFormats"][0]["name"] == "huggingface"
    (container,) = runtime["spec"]["containers"]
    assert container["args"] == ["--model_dir=/mnt/models", "--backend=vllm", "--http_port=8080"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HF_HUB_OFFLINE"] == "1" and env["HOME"].startswith("/tmp") and env["USER"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert [p["name"] for p in container["ports"]] == ["http1"]
    config = {t["name"]: t for t in _tier_configs(rendered)}
    for tier in values["tiers"]:
        isvc = rendered.get("InferenceService", f"codecascade-tier-{tier['name']}")
        predictor = isvc["spec"]["predictor"]
        model = predictor["model"]
        assert model["modelFormat"] == {"name": "huggingface"}
        assert model["runtime"] == "codecascade-huggingface"
        assert model["args"][0] == f"--model_name={tier['model']}"
        assert model["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert predictor["nodeSelector"] == tier["nodeSelector"]
        assert predictor["automountServiceAccountToken"] is False
        assert model["volumeMounts"][0]["mountPath"] == "/mnt/models"
        assert "storageUri" not in model  # pvc:// is mounted: no storage initializer
        entry = config[tier["name"]]
        assert entry["protocol"] == "openai"
        assert entry["address"] == (
            f"http://codecascade-tier-{tier['name']}-predictor.codecascade.svc.cluster.local"
            "/openai/v1"
        )
        assert entry["model"] == tier["model"]


def _tier_configs(rendered: Rendered) -> list[dict[str, Any]]:
    """The shared `tiers:` list as the mesh ConfigMap mounts it (CODECASCADE_CONFIG)."""
    (config,) = [d for d in rendered.of_kind("ConfigMap") if "config.yaml" in d.get("data", {})]
    return list(yaml.safe_load(config["data"]["config.yaml"])["tiers"])


def test_huggingface_tiers_are_reachable_and_scraped(renderer: Renderer) -> None:
    rendered = renderer((GPU_KSERVE,))
    policy = rendered.get("NetworkPolicy", "codecascade-tier")
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "tier"
    router = rendered.get("NetworkPolicy", "codecascade-router")
    ports = {p["port"] for rule in router["spec"]["egress"] for p in rule.get("ports", [])}
    assert 8080 in ports  # the predictor's container port behind KServe's port-80 Service
    (monitor,) = rendered.of_kind("PodMonitor")
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["http1"]
    assert rendered.of_kind("ServiceAccount")


def test_huggingface_tiers_need_a_gpu(tmp_path: Path) -> None:
    values = yaml.safe_load(GPU_KSERVE.read_text())
    for where in ("limits",):
        del values["tiers"][0]["resources"][where]["nvidia.com/gpu"]
    err = _refused([_write(tmp_path, values), PROD_DIGESTS])
    assert "nvidia.com/gpu" in err


def test_require_image_digests_covers_every_image(tmp_path: Path, renderer: Renderer) -> None:
    # The Hugging Face runtime's digest.
    values = yaml.safe_load(GPU_KSERVE.read_text())
    values["image"]["digest"] = "sha256:" + "a" * 64
    err = _refused([_write(tmp_path, values)])
    assert "huggingfaceRuntime.image.digest" in err
    # Triton's image: by digest in the reference, or through imageDigests.
    digests = yaml.safe_load(PROD_DIGESTS.read_text())
    digests.pop("imageDigests")
    path = tmp_path / "no-triton.yaml"
    path.write_text(yaml.safe_dump(digests))
    err = _refused([PROD, path])
    assert "triton.image nvcr.io/nvidia/tritonserver:25.01-vllm-python-py3 is not pinned" in err
    # With every digest given, every rendered image is pinned.
    for values_file in (PROD, GPU_KSERVE):
        images = _images(renderer((values_file,)))
        assert images and all(DIGEST.match(i) for i in images), images


_VALUE_SETS = [
    None,
    *EXAMPLE_VALUES,
    *sorted((ROOT / "tests" / "charts" / "values").glob("*.yaml")),
]


@pytest.mark.parametrize("values", _VALUE_SETS, ids=lambda v: "defaults" if v is None else v.stem)
def test_no_value_set_renders_an_unpinned_image_under_require_image_digests(
    values: Path | None,
) -> None:
    """With requireImageDigests on, each shipped value set either renders every container image
    by digest (the stand-in digests given) or is refused (only the mesh image's given)."""
    files = [] if values is None else [values]
    on = ["requireImageDigests=true"]
    pinned = run_helm(*_args([*files, PROD_DIGESTS], on))
    assert pinned.returncode == 0, pinned.stderr
    images = re.findall(r"(?m)^\s+image: \"?([^\s\"]+)", pinned.stdout)
    assert images and all(DIGEST.match(i) for i in images), images
    partial = run_helm(*_args(files, [*on, "image.digest=sha256:" + "1" * 64]))
    if partial.returncode == 0:
        images = re.findall(r"(?m)^\s+image: \"?([^\s\"]+)", partial.stdout)
        assert all(DIGEST.match(i) for i in images), images
    else:
        assert "requireImageDigests" in partial.stderr, partial.stderr


def test_image_digests_keys_must_be_tagged_references(tmp_path: Path) -> None:
    err = _refused([PROD, PROD_DIGESTS], "imageDigests.nvcr\\.io/x:1=sha256:abc")
    assert "imageDigests" in err


def test_skaffold_prod_pins_the_triton_images_of_values_prod() -> None:
    skaffold = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    (prod,) = [p for p in skaffold["profiles"] if p["name"] == "prod"]
    (release,) = prod["deploy"]["helm"]["releases"]
    keys = {
        k.removeprefix("imageDigests.").replace("\\.", ".")
        for k in release["setValueTemplates"]
        if k.startswith("imageDigests.")
    }
    tritons = {t["triton"]["image"] for t in yaml.safe_load(PROD.read_text())["tiers"]
               if t["backend"] == "triton"}  # fmt: skip
    assert keys == tritons
    for artifact in prod["build"]["artifacts"]:
        args = artifact["docker"]["buildArgs"]
        assert args["BASE_IMAGE"] == "{{.CODECASCADE_BASE_IMAGE}}", artifact["image"]
        hooks = [h["command"] for h in artifact["hooks"]["before"]]
        assert ["sh", "docker/require-digest.sh", "CODECASCADE_BASE_IMAGE"] in hooks


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("", False),
        ("debian:bookworm-20251229-slim", False),
        ("debian:bookworm-20251229-slim@sha256:abc", False),
        ("debian:bookworm-20251229-slim@sha256:" + "0" * 64, True),
        ("debian@sha256:" + "f" * 64, True),
    ],
)
def test_production_base_image_must_be_a_digest(value: str, ok: bool) -> None:
    result = subprocess.run(
        ["sh", str(ROOT / "docker" / "require-digest.sh"), "CODECASCADE_BASE_IMAGE"],
        env={**os.environ, "CODECASCADE_BASE_IMAGE": value},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (result.returncode == 0) is ok, result.stderr
    if not ok:
        assert "not pinned by digest" in result.stderr
