"""The Helm chart, rendered with the pinned helm and checked as strictly as no API server allows.

Each value set (the chart defaults, every k8s/values-*.yaml, the combinations in values/) is
rendered with `helm template` and asserted on: hardening, probes, labels, no service-account
token, the sandbox's gVisor runtime class and denied egress; built-in kinds go through
`kubernetes-validate --strict` for Kubernetes 1.32 and the newest version it knows; custom resources
are validated against the KServe CRDs in ../shared/reference and the Prometheus Operator's CRDs
(from its pinned Go module) with unknown fields rejected; the
policy and tier list the chart mounts are parsed by the services' own settings code.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from codecascade.core.tiers import TierSpec
from codecascade.router.config import RouterSettings
from codecascade.router.policy import CascadePolicy
from codecascade.sandbox.config import SandboxSettings
from codecascade.testsynth.config import SynthesisSettings
from tests.cluster.kube import prometheus_operator_crds

from .conftest import (
    CHART,
    EXAMPLE_VALUES,
    KUBE_VERSION,
    REFERENCE,
    ROOT,
    Rendered,
    requires_helm,
    run_helm,
    template_args,
)

Renderer = Callable[..., Rendered]

COMBINATIONS = sorted((Path(__file__).parent / "values").glob("*.yaml"))
VALUE_SETS: dict[str, tuple[Path, ...]] = {
    "defaults": (),
    **{p.stem: (p,) for p in EXAMPLE_VALUES},
    **{f"combo-{p.stem}": (p,) for p in COMBINATIONS},
}
SET_IDS = sorted(VALUE_SETS)
NEWEST_KUBE = kubernetes_validate.latest_version()
MESH = ("router", "testsynth", "sandbox")
LABEL_KEYS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/version",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
}
CRD_FILES = {
    ("serving.kserve.io", "InferenceService"): "kserve/serving.kserve.io_inferenceservices.yaml",
    ("serving.kserve.io", "ServingRuntime"): "kserve/serving.kserve.io_servingruntimes.yaml",
    ("keda.sh", "ScaledObject"): "keda/keda.sh_scaledobjects.yaml",
}
# Not in ../shared/reference: from the Prometheus Operator's pinned Go module (conftest).
PROMETHEUS_CRD_FILES = {
    ("monitoring.coreos.com", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.yaml",
    ("monitoring.coreos.com", "PodMonitor"): "monitoring.coreos.com_podmonitors.yaml",
    ("monitoring.coreos.com", "PrometheusRule"): "monitoring.coreos.com_prometheusrules.yaml",
}


@pytest.fixture(params=SET_IDS)
def rendered(request: pytest.FixtureRequest, renderer: Renderer) -> Rendered:
    return renderer(VALUE_SETS[request.param])


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    if "containers" in spec:
        return list(spec["containers"])
    return [spec["model"]]  # an InferenceService predictor: the model container


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


# -- lint and render ---------------------------------------------------------------------------


@requires_helm
def test_helm_lint_strict() -> None:
    for values in [(), *((p,) for p in EXAMPLE_VALUES), *((p,) for p in COMBINATIONS)]:
        args = ["lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION]
        for path in values:
            args += ["-f", str(path)]
        result = run_helm(*args)
        assert result.returncode == 0, f"{values}: {result.stdout}{result.stderr}"


def test_every_object_has_the_recommended_labels(rendered: Rendered) -> None:
    for doc in rendered.docs:
        labels = doc["metadata"].get("labels", {})
        missing = LABEL_KEYS - set(labels)
        assert not missing, f"{doc['kind']} {doc['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/part-of"] == "codecascade"
        assert doc["metadata"].get("namespace") == "codecascade"


def test_pods_are_hardened(rendered: Rendered) -> None:
    for name, spec in rendered.pod_specs():
        # Only the autoscaler of autoscaling.mode direct calls the API server (its Role).
        token = name.endswith("-autoscaler") and bool(rendered.of_kind("Role"))
        assert spec["automountServiceAccountToken"] is token, name
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] > 0 and pod["runAsGroup"] > 0, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in containers(spec):
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["runAsNonRoot"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in sc["capabilities"], name
            assert container["resources"].get("limits"), f"{name}: no resource limits"
            assert container["resources"].get("requests"), f"{name}: no resource requests"
    for sa in rendered.of_kind("ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False


def test_mesh_probes_are_grpc_and_grace_exceeds_shutdown(rendered: Rendered) -> None:
    for deploy in rendered.of_kind("Deployment"):
        component = deploy["metadata"]["labels"]["app.kubernetes.io/component"]
        if component not in MESH:
            continue
        spec = deploy["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        port = next(p["containerPort"] for p in container["ports"] if p["name"] == "grpc")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == port, (component, probe)
        env = env_of(container)
        assert env["GRPC_PORT"]["value"] == str(port)
        assert env["GRPC_HOST"]["value"] == "0.0.0.0"
        assert spec["terminationGracePeriodSeconds"] > float(env["SHUTDOWN_GRACE_S"]["value"])
        assert container["args"] == [component]
        assert deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_tiers_probe_v2_health(rendered: Rendered) -> None:
    for runtime in rendered.of_kind("ServingRuntime"):
        (container,) = runtime["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    for deploy in rendered.of_kind("Deployment"):
        if deploy["metadata"]["labels"]["app.kubernetes.io/component"] == "tier":
            (container,) = deploy["spec"]["template"]["spec"]["containers"]
            assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"


def test_otel_service_name_comes_from_the_component_label(rendered: Rendered) -> None:
    """Mesh pods: the component label. Tiers: tier-<name>, each its own service (not all `tier`)."""
    for name, spec in rendered.pod_specs():
        for container in containers(spec):
            env = env_of(container)
            if "-tier-" in name:
                tier = name.rpartition("-tier-")[2]
                assert env["OTEL_SERVICE_NAME"]["value"] == f"tier-{tier}", name
            else:
                ref = env["OTEL_SERVICE_NAME"]["valueFrom"]["fieldRef"]
                assert ref["fieldPath"] == "metadata.labels['app.kubernetes.io/component']", name
            leftovers = [k for k in env if k.startswith("OTEL_")]
            assert leftovers, name
            # Every trace is sampled at the SDK (tail sampling belongs to the collector).
            assert env["OTEL_TRACES_SAMPLER"]["value"] == "parentbased_always_on", name
            assert "OTEL_TRACES_SAMPLER_ARG" not in env, name
            # The pod name stays in the resource attributes whatever the values file adds.
            assert (
                "k8s.pod.name=$(OTEL_K8S_POD_NAME)" in env["OTEL_RESOURCE_ATTRIBUTES"]["value"]
            ), name
            names = [e["name"] for e in container["env"]]
            assert len(names) == len(set(names)), name
            assert names.index("OTEL_K8S_POD_NAME") < names.index("OTEL_RESOURCE_ATTRIBUTES"), name


def test_sandbox_exports_no_telemetry(rendered: Rendered) -> None:
    """Its egress is denied: exporters off (OTEL_*_EXPORTER=none), whatever envOverrides say."""
    for doc in rendered.of_kind("Deployment"):
        if doc["metadata"]["labels"]["app.kubernetes.io/component"] != "sandbox":
            continue
        env = env_of(doc["spec"]["template"]["spec"]["containers"][0])
        for signal in ("TRACES", "METRICS", "LOGS"):
            assert env[f"OTEL_{signal}_EXPORTER"]["value"] == "none"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == ""


def test_extra_env_appends_and_overrides_in_place(renderer: Renderer) -> None:
    out = renderer(
        (),
        (
            "default.extraEnv[0].name=OTEL_EXPORTER_OTLP_ENDPOINT",
            "default.extraEnv[0].value=http://collector:4317",
            "default.extraEnv[1].name=EXTRA",
            "default.extraEnv[1].value=x",
            "sandbox.envOverrides[0].name=OTEL_TRACES_EXPORTER",
            "sandbox.envOverrides[0].value=otlp",
        ),
    )
    for name, spec in out.pod_specs():
        for container in containers(spec):
            env = env_of(container)
            names = [e["name"] for e in container["env"]]
            assert names[-1] == "EXTRA" or "sandbox" in name, (name, names)
            assert env["EXTRA"]["value"] == "x"
            assert "OTEL_K8S_POD_NAME" in env
            if "sandbox" in name:
                assert env["OTEL_TRACES_EXPORTER"]["value"] == "none"
                assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == ""
            else:
                assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "http://collector:4317"


def test_sandbox_runs_in_gvisor_with_no_egress(rendered: Rendered) -> None:
    deploys = [
        d
        for d in rendered.of_kind("Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "sandbox"
    ]
    assert deploys, "every value set deploys the sandbox"
    (deploy,) = deploys
    spec = deploy["spec"]["template"]["spec"]
    assert spec["runtimeClassName"] == "gvisor"
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    assert env_of(container)["SANDBOX_BACKEND"]["value"] == "pod"
    assert not any(e.get("valueFrom", {}).get("secretKeyRef") for e in container["env"])
    policies = [
        p
        for p in rendered.of_kind("NetworkPolicy")
        if p["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "sandbox"
    ]
    if not policies:  # only where the value set turns NetworkPolicies off
        assert not rendered.of_kind("NetworkPolicy")
        return
    (policy,) = policies
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    # Egress in policyTypes with no egress rule denies all egress (no `egress: []`: the API server
    # drops empty lists, so every upgrade would re-patch it; tests/cluster/test_chart_live.py).
    assert "egress" not in policy["spec"]
    grpc_rule = policy["spec"]["ingress"][0]
    assert grpc_rule["from"] == [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "codecascade",
                    "app.kubernetes.io/instance": "codecascade",
                    "app.kubernetes.io/component": "router",
                }
            }
        }
    ]


def test_every_mesh_component_has_its_guard_rails(renderer: Renderer) -> None:
    rendered = renderer(VALUE_SETS["defaults"])
    for component in MESH:
        name = f"codecascade-{component}"
        assert rendered.get("ServiceAccount", name)
        assert rendered.get("NetworkPolicy", name)
        assert rendered.get("PodDisruptionBudget", name)["spec"]["minAvailable"] == 1
        service = rendered.get("Service", name)
        assert service["spec"]["ports"][0]["name"] == "grpc"
    assert not rendered.of_kind("Role") and not rendered.of_kind("ClusterRole")
    assert not rendered.of_kind("RoleBinding") and not rendered.of_kind("ClusterRoleBinding")


def test_external_tiers_take_keys_from_secrets(renderer: Renderer) -> None:
    rendered = renderer(VALUE_SETS["combo-external-tiers"])
    assert not rendered.of_kind("InferenceService") and not rendered.of_kind("ServingRuntime")
    secret = rendered.get("Secret", "tenant-acme-openai")
    assert secret["metadata"]["labels"]["codecascade/tenant"] == "acme"
    config = rendered.get("ConfigMap", "codecascade-mesh")["data"]["config.yaml"]
    assert "sk-test" not in config and "api_key" not in config
    for component in ("router", "testsynth"):
        deploy = rendered.get("Deployment", f"codecascade-{component}")
        env = env_of(deploy["spec"]["template"]["spec"]["containers"][0])
        ref = env["CODECASCADE_TIER_HOSTED_API_KEY"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "tenant-acme-openai", "key": "api-key"}
        tiers = json.loads(env["TIERS"]["value"])
        assert tiers[1]["api_key"] == "$(CODECASCADE_TIER_HOSTED_API_KEY)"
        names = list(env)
        assert names.index("CODECASCADE_TIER_HOSTED_API_KEY") < names.index("TIERS")
    assert len(rendered.of_kind("ServiceMonitor")) == 3


def test_disabled_components_render_nothing(renderer: Renderer) -> None:
    rendered = renderer(VALUE_SETS["combo-sandbox-only"])
    components = {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in rendered.docs}
    assert "router" not in components and "testsynth" not in components
    assert not rendered.of_kind("NetworkPolicy") and not rendered.of_kind("PodDisruptionBudget")
    (container,) = rendered.get("Deployment", "codecascade-sandbox")["spec"]["template"]["spec"][
        "containers"
    ]
    assert [p["name"] for p in container["ports"]] == ["grpc"]


def test_gpu_tiers_land_on_their_node_pools(renderer: Renderer) -> None:
    prod = next(p for p in EXAMPLE_VALUES if p.stem == "values-prod")
    values = yaml.safe_load(prod.read_text())
    rendered = renderer((prod,))
    for tier in values["tiers"]:
        if tier["backend"] == "external":
            continue
        kind = "InferenceService" if tier["backend"] == "kserve" else "Deployment"
        doc = rendered.get(kind, f"codecascade-tier-{tier['name']}")
        spec = (
            doc["spec"]["predictor"]
            if kind == "InferenceService"
            else doc["spec"]["template"]["spec"]
        )
        assert spec["nodeSelector"] == tier["nodeSelector"]
        assert spec["tolerations"] == tier["tolerations"]
        (container,) = containers(spec)
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 1


# -- schema validation of the rendered manifests ------------------------------------------------


@pytest.mark.parametrize("version", [KUBE_VERSION, NEWEST_KUBE])
def test_builtin_kinds_pass_kubernetes_validate_strict(
    rendered: Rendered, version: str, tmp_path: Path
) -> None:
    builtin = [
        d
        for d in rendered.docs
        if d["apiVersion"].split("/")[0].count(".") == 0
        or d["apiVersion"].split("/")[0].endswith(".k8s.io")
    ]
    assert builtin
    manifest = tmp_path / "builtin.yaml"
    manifest.write_text(yaml.safe_dump_all(builtin))
    cli = Path(sys.executable).with_name("kubernetes-validate")
    result = subprocess.run(
        [str(cli), "--strict", "--quiet", "-k", version, str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _strict(schema: Any) -> Any:
    """Rejects unknown fields wherever the CRD lists properties and does not preserve unknowns."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def crd_validator(group: str, kind: str, version: str) -> jsonschema.Draft7Validator:
    if (group, kind) in PROMETHEUS_CRD_FILES:
        path = prometheus_operator_crds() / PROMETHEUS_CRD_FILES[(group, kind)]
    else:
        path = REFERENCE / "crds" / CRD_FILES[(group, kind)]
    if not path.is_file():
        pytest.fail(f"{path} is missing: the CRD reference schemas live in ../shared/reference")
    crd = yaml.safe_load(path.read_text())
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            assert entry["served"], f"{kind} {version} is not served"
            schema = _strict(copy.deepcopy(entry["schema"]["openAPIV3Schema"]))
            schema["properties"]["metadata"] = {"type": "object"}
            return jsonschema.Draft7Validator(schema)
    pytest.fail(f"{kind}: the CRD has no version {version}")


def test_custom_resources_match_their_crds(rendered: Rendered) -> None:
    for doc in rendered.docs:
        group, _, version = doc["apiVersion"].rpartition("/")
        if "." not in group or group.endswith(".k8s.io"):
            continue
        if group == "monitoring.coreos.com" and doc["kind"] != "PrometheusRule":
            endpoints = doc["spec"].get("endpoints") or doc["spec"]["podMetricsEndpoints"]
            assert {e["port"] for e in endpoints} <= {"metrics", "http1"}
        validator = crd_validator(group, doc["kind"], version)
        errors = [
            f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
            for e in validator.iter_errors(doc)
        ]
        assert not errors, f"{doc['kind']} {doc['metadata']['name']}: {errors}"


def test_crd_validation_rejects_unknown_fields() -> None:
    validator = crd_validator("serving.kserve.io", "InferenceService", "v1beta1")
    good = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "x"},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "gguf"}}}},
    }
    assert not list(validator.iter_errors(good))
    bad = copy.deepcopy(good)
    bad["spec"]["predictor"]["model"]["storageURI"] = "s3://typo"
    assert list(validator.iter_errors(bad))


def test_monitoring_objects_match_the_prometheus_operator_crds(renderer: Renderer) -> None:
    """values-prod's ServiceMonitors and tier PodMonitor pass the operator's own schemas (not just
    a shape check), and the strict validator does catch a misspelt field."""
    prod = next(p for p in EXAMPLE_VALUES if p.stem == "values-prod")
    rendered = renderer((prod,))
    monitors = rendered.of_kind("ServiceMonitor") + rendered.of_kind("PodMonitor")
    assert {d["kind"] for d in monitors} == {"ServiceMonitor", "PodMonitor"}
    for doc in monitors:
        validator = crd_validator("monitoring.coreos.com", doc["kind"], "v1")
        assert not list(validator.iter_errors(doc)), doc["metadata"]["name"]
    bad = copy.deepcopy(rendered.of_kind("PodMonitor")[0])
    bad["spec"]["podMetricsEndpoints"][0]["scrapeInterval"] = "30s"  # the field is `interval`
    validator = crd_validator("monitoring.coreos.com", "PodMonitor", "v1")
    assert any("scrapeInterval" in e.message for e in validator.iter_errors(bad))


# -- chart and code cannot drift ----------------------------------------------------------------


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(
        r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value
    )


def _container_env(deploy: dict[str, Any], files: dict[str, Path]) -> dict[str, str]:
    """The container's environment as the kubelet would build it (Secrets and fields faked)."""
    env: dict[str, str] = {}
    for entry in deploy["spec"]["template"]["spec"]["containers"][0]["env"]:
        if "value" in entry:
            env[entry["name"]] = _expand(entry["value"], env)
        elif "secretKeyRef" in entry["valueFrom"]:
            env[entry["name"]] = "secret-" + entry["valueFrom"]["secretKeyRef"]["key"]
        else:
            env[entry["name"]] = "field"
    for name, path in files.items():
        env[name] = str(path)
    return env


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for key in list(os.environ):
        if key.upper() in {"TIERS", "POLICY_FILE", "CODECASCADE_CONFIG", "GRPC_PORT"}:
            monkeypatch.delenv(key)
    yield monkeypatch


def test_mounted_config_loads_in_the_services(
    rendered: Rendered, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    data = rendered.get("ConfigMap", "codecascade-mesh")["data"]
    policy = CascadePolicy.from_yaml(data["policy.yaml"], source="chart policy")
    config = tmp_path / "config.yaml"
    config.write_text(data["config.yaml"])
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(data["policy.yaml"])
    tiers = [TierSpec.model_validate(t) for t in yaml.safe_load(data["config.yaml"])["tiers"]]
    policy.check_tiers([t.name for t in tiers])
    files = {"CODECASCADE_CONFIG": config, "POLICY_FILE": policy_file}
    settings_types = {
        "router": RouterSettings,
        "testsynth": SynthesisSettings,
        "sandbox": SandboxSettings,
    }
    for component, settings_type in settings_types.items():
        try:
            deploy = rendered.get("Deployment", f"codecascade-{component}")
        except KeyError:
            continue
        with clean_env.context() as patch:
            for name, value in _container_env(deploy, files).items():
                patch.setenv(name, value)
            settings = settings_type.load()
        assert settings.grpc_port == int(_container_env(deploy, files)["GRPC_PORT"])
        if isinstance(settings, RouterSettings | SynthesisSettings):
            loaded = [t.model_copy(update={"api_key": ""}) for t in settings.tiers]
            assert loaded == tiers
        if isinstance(settings, RouterSettings):
            assert CascadePolicy.load(settings.policy_file) == policy
            for tier in settings.tiers:
                assert bool(tier.api_key) == tier.api_key.startswith("secret-")


def test_values_defaults_equal_the_code_defaults() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    types = {"router": RouterSettings, "testsynth": SynthesisSettings, "sandbox": SandboxSettings}
    for component, settings_type in types.items():
        fields = settings_type.model_fields
        for key, value in values[component]["settings"].items():
            assert key in fields, f"{component}.settings.{key} is no setting of {settings_type}"
            default = fields[key].get_default(call_default_factory=True)
            assert default == value, f"{component}.settings.{key}"
        assert values[component]["grpcPort"] == fields["grpc_port"].default
        assert values[component]["shutdownGraceSeconds"] == fields["shutdown_grace_s"].default
    router, fields = values["router"], RouterSettings.model_fields
    assert router["tls"]["port"] == fields["tls_port"].default
    assert router["http"]["port"] == fields["http_port"].default
    assert router["ledger"]["store"] == fields["ledger_store"].default
    assert router["ledger"]["redisUrl"] == fields["redis_url"].default


def test_schema_mirrors_the_pydantic_models() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    props = schema["properties"]
    policy = props["policy"]
    assert set(policy["properties"]) == set(CascadePolicy.model_fields)
    assert set(policy["properties"]["tiers"]["items"]["properties"]) == set(
        CascadePolicy.model_fields["tiers"].annotation.__args__[0].model_fields  # type: ignore[union-attr]
    )
    for component, settings_type in (
        ("router", RouterSettings),
        ("testsynth", SynthesisSettings),
        ("sandbox", SandboxSettings),
    ):
        keys = set(props[component]["properties"]["settings"]["properties"])
        assert keys <= set(settings_type.model_fields), component


# -- values.schema.json -------------------------------------------------------------------------


def _objects(schema: Any, path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        if "properties" in schema:
            yield path, schema
        for key, value in schema.items():
            yield from _objects(value, f"{path}.{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from _objects(value, f"{path}[{i}]")


def test_values_schema_is_closed_and_described() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    for path, obj in _objects(schema):
        if path.endswith(".if") or ".allOf[" in path.split(".properties")[-1]:
            continue
        assert obj.get("additionalProperties") is False, f"{path} is open"
        for key, prop in obj["properties"].items():
            if "$ref" in prop and "description" not in prop:
                prop = schema["$defs"][prop["$ref"].rpartition("/")[2]]
            assert prop.get("description"), f"{path}.{key} has no description"
    values_text = (CHART / "values.yaml").read_text()
    assert values_text.splitlines()[0] == "# yaml-language-server: $schema=values.schema.json"
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load(values_text))


BAD_VALUES = [
    (["router.replicas=-1"], "replicas"),
    (["router.replcas=2"], "replcas"),
    (["image.tag=latest"], "image.tag"),
    (["image.digest=sha256:abc"], "digest"),
    (["securityContext.allowPrivilegeEscalation=true"], "allowPrivilegeEscalation"),
    (["sandbox.settings.pool_size=100"], "pool_size"),
    (["tiers[0].backend=ollama"], "backend"),
    (["tiers[0].kserve.modelFile=../etc/passwd"], "modelFile"),
    (["policy.tiers[0].threshold=1.5"], "threshold"),
    (["networkPolicy.enabeld=false"], "enabeld"),
]


@requires_helm
@pytest.mark.parametrize(("sets", "mentions"), BAD_VALUES, ids=[m for _, m in BAD_VALUES])
def test_schema_rejects_bad_values(sets: list[str], mentions: str) -> None:
    result = run_helm(*template_args(sets=sets))
    assert result.returncode != 0, f"{sets} was accepted"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert mentions in result.stderr, result.stderr


_KSERVE = (
    "kserve: {storageUri: 'pvc://m/', modelFile: S, threads: 1, nCtx: 2048,"
    " minReplicas: 1, maxReplicas: 1}"
)
BAD_COMBINATIONS = [
    ("router: {shutdownGraceSeconds: 30}", "must be larger than router.shutdownGraceSeconds"),
    ("policy: {tiers: [{tier: XL, k: 0}]}", 'tier "XL" has no entry'),
    (
        "tiers:\n"
        f"  - {{name: S, backend: kserve, model: S, price_per_1k_tokens: 0, {_KSERVE}}}\n"
        f"  - {{name: s, backend: kserve, model: s, price_per_1k_tokens: 0, {_KSERVE}}}\n",
        'two tiers are named "s"',
    ),
    ("testsynth: {enabled: false}", "router.enabled needs testsynth.enabled"),
]


@requires_helm
@pytest.mark.parametrize(
    ("values", "mentions"), BAD_COMBINATIONS, ids=[m for _, m in BAD_COMBINATIONS]
)
def test_template_rejects_inconsistent_values(values: str, mentions: str, tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(values)
    result = run_helm(*template_args(values_files=[path]))
    assert result.returncode != 0, f"{values} was accepted"
    assert mentions in result.stderr, result.stderr


# -- layout, plain manifests, skaffold, k8s extras ----------------------------------------------


def test_template_files_are_named_kind_component(renderer: Renderer) -> None:
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    for path in (CHART / "templates").glob("*.tpl"):
        for name in re.findall(r'define "([^"]+)"', path.read_text()):
            assert name.startswith("codecascade."), f"{path.name}: {name}"
    assert 'define "codecascade.fullname"' in helpers
    kinds = {d["kind"].lower() for d in renderer(VALUE_SETS["values-prod"]).docs}
    kinds |= {d["kind"].lower() for d in renderer(()).docs}
    kinds |= {d["kind"].lower() for d in renderer(VALUE_SETS["combo-external-tiers"]).docs}
    for mode in ("keda", "direct"):
        kinds |= {d["kind"].lower() for d in renderer(VALUE_SETS[f"combo-autoscaling-{mode}"]).docs}
    kinds |= {d["kind"].lower() for d in renderer(VALUE_SETS["combo-observability"]).docs}
    gateway = [
        f"router.gateway.{r}.{k}"
        for r in ("grpcRoute", "httpRoute")
        for k in ("enabled=true", "parentRefs[0].name=gw")
    ]
    kinds |= {d["kind"].lower() for d in renderer(VALUE_SETS["combo-public-edge"], gateway).docs}
    kinds.add("poddisruptionbudget")
    short = {"poddisruptionbudget": "pdb"}
    for path in (CHART / "templates").glob("*.yaml"):
        kind, _, component = path.stem.partition("-")
        assert component, path.name
        assert kind in {short.get(k, k) for k in kinds}, f"{path.name}: no such rendered kind"


@requires_helm
def test_plain_manifests_are_current() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "render_manifests.sh"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_skaffold_yaml_matches_its_schema() -> None:
    schema = json.loads((REFERENCE / "skaffold" / "v4beta13.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    assert config["apiVersion"] == "skaffold/v4beta13"
    errors = [e.message for e in validator.iter_errors(config)]
    assert not errors, errors
    images = {a["image"]: a["docker"]["dockerfile"] for a in config["build"]["artifacts"]}
    assert images == {
        "codecascade-mesh": "docker/mesh.Dockerfile",
        "codecascade-tier": "docker/tier.Dockerfile",
    }
    assert {p["name"] for p in config["profiles"]} == {"dev", "prod"}
    for release in [config["deploy"]["helm"]["releases"][0]] + [
        p["deploy"]["helm"]["releases"][0] for p in config["profiles"] if "deploy" in p
    ]:
        assert release["chartPath"] == "charts/codecascade"
        for values_file in release["valuesFiles"]:
            assert (ROOT / values_file).is_file()
    broken = copy.deepcopy(config)
    broken["build"]["artifacts"][0]["dockerfilee"] = "x"
    assert list(validator.iter_errors(broken)), "the schema must reject unknown keys"


@pytest.mark.parametrize("version", [KUBE_VERSION, NEWEST_KUBE])
def test_k8s_extras_are_valid(version: str) -> None:
    runtime = yaml.safe_load((ROOT / "k8s" / "runtimeclass-gvisor.yaml").read_text())
    namespace = yaml.safe_load((ROOT / "k8s" / "namespace.yaml").read_text())
    for doc in (runtime, namespace):
        kubernetes_validate.validate(doc, version, strict=True)
    assert runtime["metadata"]["name"] == "gvisor"
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
    sandbox_pod = (ROOT / "services" / "codecascade" / "sandbox" / "pod.py").read_text()
    assert "k8s/runtimeclass-gvisor.yaml" in sandbox_pod
