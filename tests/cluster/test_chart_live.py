"""The Helm chart on the live control plane (scripts/cluster.sh): what the API server, its admission
plugins, the controllers and the scheduler do with the chart's objects, for every values file the
project ships.

1. install with every values file: every object accepted, and the stored objects still carry every
   field the chart set (no structural pruning of CRD fields, no defaulting that overwrote a value);
2. every Deployment rolls out on kwok's nodes: the sandbox only on gVisor nodes, GPU tiers only on
   GPU nodes; PodDisruptionBudgets and NetworkPolicies accepted;
3. RBAC: each ServiceAccount the chart creates may do exactly what docs/deploy.md's table says
   (no API access beyond what every authenticated subject has, except the autoscaler of
   autoscaling.mode direct: get/patch on its tier objects' scale); no other pod gets a token;
4. `helm upgrade` changing the policy or the tier list rolls the router; a no-op upgrade rolls
   nothing;
5. `helm uninstall` leaves nothing behind.

ServiceMonitors/PodMonitors are installed against the Prometheus Operator's CRDs (from its pinned
Go module, `scripts/cluster.sh crds`; no operator runs). Not here: KServe's controller
(InferenceServices are stored and compared, but no controller turns them into predictor pods).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.conftest import PROD_DIGESTS, requires_digests
from tests.cluster.kube import Cluster, prometheus_operator_crds

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "codecascade"
HELM = ROOT / "build" / "tools" / "bin" / "helm"
REFERENCE = ROOT.parent / "shared" / "reference" / "crds"
RELEASE = "codecascade"  # values-prod's topologySpreadConstraints select this instance name
VALUES_FILES = sorted((ROOT / "k8s").glob("values-*.yaml")) + sorted(
    (ROOT / "tests" / "charts" / "values").glob("*.yaml")
)
VALUES_CASES = [None, *VALUES_FILES]
GVISOR_NODES = {"kwok-gvisor-0", "kwok-gvisor-1"}
GPU_NODES = {"kwok-gpu-l4-0", "kwok-gpu-a100-0"}

# What every ServiceAccount of the chart may do: only what RBAC's default ClusterRoles grant every
# authenticated subject (system:basic-user, system:discovery, system:public-info-viewer,
# system:service-account-issuer-discovery). No codecascade service calls the Kubernetes API.
# (docs/deploy.md, "RBAC")
BASELINE_RULES = {
    ("selfsubjectreviews.authentication.k8s.io", "", "create"),
    ("selfsubjectaccessreviews.authorization.k8s.io", "", "create"),
    ("selfsubjectrulesreviews.authorization.k8s.io", "", "create"),
    *{
        ("", url, "get")
        for url in (
            "/.well-known/openid-configuration/",
            "/.well-known/openid-configuration",
            "/api/*",
            "/api",
            "/apis/*",
            "/apis",
            "/healthz",
            "/livez",
            "/openapi/*",
            "/openapi",
            "/openid/v1/jwks/",
            "/openid/v1/jwks",
            "/readyz",
            "/version/",
            "/version",
        )
    },
}
EXPECTED_RULES = {
    "router": BASELINE_RULES,
    "testsynth": BASELINE_RULES,
    "sandbox": BASELINE_RULES,
    "tier": BASELINE_RULES,
}


def wait_until(what: str, probe: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


@dataclass
class Release:
    cluster: Cluster
    namespace: str
    values: Path | None
    sets: list[str]

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(HELM), "--kubeconfig", str(self.cluster.kubeconfig), *args, "-n", self.namespace]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def value_args(self, *extra_sets: str) -> list[str]:
        args = ["-f", str(self.values)] if self.values else []
        if self.values and requires_digests(self.values):  # CI adds them
            args += ["-f", str(PROD_DIGESTS)]
        for item in [*self.sets, *extra_sets]:
            args += ["--set", item]
        return args

    def manifest(self) -> list[dict[str, Any]]:
        text = self.helm("get", "manifest", RELEASE).stdout
        return [d for d in yaml.safe_load_all(text) if d]

    def stored(self, doc: dict[str, Any]) -> dict[str, Any]:
        kind = doc["kind"]
        group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
        resource = f"{kind.lower()}.{group}" if group else kind.lower()
        return self.cluster.get_json(resource, doc["metadata"]["name"], "-n", self.namespace)  # type: ignore[no-any-return]


def _values_id(path: Path | None) -> str:
    return "defaults" if path is None else path.relative_to(ROOT).as_posix()


def _enables_monitors(values: Path | None) -> bool:
    if values is None:
        return False
    data = yaml.safe_load(values.read_text()) or {}
    return any((data.get(key) or {}).get("enabled") for key in ("serviceMonitor", "prometheusRule"))


@pytest.fixture(scope="module")
def crds(cluster: Cluster) -> Iterator[None]:
    """KServe and KEDA CRDs from ../shared/reference (read in place) and the Prometheus
    Operator's (ServiceMonitor, PodMonitor, PrometheusRule: from its pinned Go module),
    Established; one more fake gVisor node (values-prod runs 4 sandbox replicas of 2 CPU each
    plus gVisor's overhead, more than kwok-gvisor-0's 8 CPUs: a production gVisor pool has more
    than one node)."""
    for folder in ("kserve", "keda"):
        cluster.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            str(REFERENCE / folder),
            timeout=180,
        )
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", str(prometheus_operator_crds())
    )
    # Established for every CRD (`kubectl wait --for=condition=Established crd --all` fails at once
    # on a CRD created a moment ago, whose status has no conditions yet: poll instead).

    def established() -> bool:
        pending = [
            c["metadata"]["name"]
            for c in cluster.get_json("crd")["items"]
            if not any(
                x["type"] == "Established" and x["status"] == "True"
                for x in (c.get("status") or {}).get("conditions") or []
            )
        ]
        return not pending

    wait_until("every CRD Established", established, timeout=120)
    cluster.apply("""
apiVersion: v1
kind: Node
metadata:
  name: kwok-gvisor-1
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: kwok-gvisor-1, kubernetes.io/os: linux,
           kubernetes.io/arch: amd64, type: kwok, codecascade/gvisor: "true"}
spec:
  taints: [{key: codecascade/gvisor, value: "true", effect: NoSchedule}]
status:
  capacity: {cpu: "8", memory: 32Gi, pods: "110", ephemeral-storage: 100Gi}
  allocatable: {cpu: "8", memory: 32Gi, pods: "110", ephemeral-storage: 100Gi}
""")

    def ready() -> bool:
        node = cluster.get_json("node", "kwok-gvisor-1")
        return any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in node["status"].get("conditions", [])
        )

    wait_until("node kwok-gvisor-1 Ready", ready, timeout=60)
    yield
    cluster.kubectl("delete", "node", "kwok-gvisor-1", "--wait=false", check=False)


def _namespace(cluster: Cluster) -> str:
    """A namespace as k8s/namespace.yaml ships it (Pod Security `restricted` enforced), renamed."""
    name = f"cc-{uuid.uuid4().hex[:8]}"
    ns = yaml.safe_load((ROOT / "k8s" / "namespace.yaml").read_text())
    ns["metadata"]["name"] = name
    cluster.apply(json.dumps(ns))
    wait_until(
        f"ServiceAccount default in {name}",
        lambda: cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0,
    )
    return name


PUBLIC_EDGE = "public-edge.yaml"


def _public_edge_secrets(cluster: Cluster, ns: str) -> None:
    """The Secrets docs/deploy.md ("The public edge") has the operator create out of band: the
    tenants file, the TLS pair (a real self-signed one), the client CA (mTLS), Redis's password."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=router.codecascade", "-keyout", "tls.key", "-out", "tls.crt"],
            cwd=tmp, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        crt, key = (Path(tmp, name).read_text() for name in ("tls.crt", "tls.key"))
    tenants = {"version": 1, "tenants": []}
    cluster.apply(
        yaml.safe_dump_all(
            [
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": name, "namespace": ns},
                    "type": kind,
                    "stringData": data,
                }
                for name, kind, data in (
                    ("codecascade-tenants", "Opaque", {"tenants.yaml": yaml.safe_dump(tenants)}),
                    (
                        "codecascade-router-tls",
                        "kubernetes.io/tls",
                        {"tls.crt": crt, "tls.key": key},
                    ),
                    ("codecascade-client-ca", "Opaque", {"ca.crt": crt}),
                    ("codecascade-redis", "Opaque", {"password": uuid.uuid4().hex}),
                )
            ]
        )
    )


def _prerequisites(cluster: Cluster, ns: str, values: Path | None) -> None:
    """What the docs say an operator creates before installing: the Triton model-repository claim
    of values-prod (bound to a static PV so the scheduler can place the pods), the public edge's
    Secrets."""
    if values is not None and values.name == PUBLIC_EDGE:
        _public_edge_secrets(cluster, ns)
    if values is None or "triton-model-repository" not in values.read_text():
        return
    _static_claim(cluster, ns, "triton-model-repository")


def _static_claim(cluster: Cluster, ns: str, claim: str) -> str:
    """A ReadOnlyMany claim bound to a static PV (`<ns>-<claim>`, returned) so the scheduler can
    place pods that mount it, as an operator's model claim would be."""
    pv = f"{ns}-{claim}"
    cluster.apply(f"""
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {pv}}}
spec:
  capacity: {{storage: 100Gi}}
  accessModes: [ReadOnlyMany]
  persistentVolumeReclaimPolicy: Delete
  hostPath: {{path: /models}}
  claimRef: {{namespace: {ns}, name: {claim}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: {claim}, namespace: {ns}}}
spec:
  accessModes: [ReadOnlyMany]
  storageClassName: ""
  volumeName: {pv}
  resources: {{requests: {{storage: 100Gi}}}}
""")
    return pv


@pytest.fixture(scope="module", params=VALUES_CASES, ids=[_values_id(v) for v in VALUES_CASES])
def release(request: pytest.FixtureRequest, cluster: Cluster, crds: None) -> Iterator[Release]:
    values: Path | None = request.param
    ns = _namespace(cluster)
    _prerequisites(cluster, ns, values)
    rel = Release(cluster, ns, values, [])
    rel.helm("install", RELEASE, str(CHART), *rel.value_args(), "--timeout", "5m")
    yield rel
    rel.helm("uninstall", RELEASE, "--wait", check=False)
    cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
    cluster.kubectl("delete", "pv", f"{ns}-triton-model-repository", "--wait=false", check=False)


# --- comparing what the chart set with what the API server stored --------------------------------

_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX: dict[str, Decimal | int] = {
    "": 1,
    "m": Decimal("0.001"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def _quantity(value: Any) -> Decimal | None:
    m = _QUANTITY.match(str(value))
    if not m or m.group(2) not in _SUFFIX:
        return None
    return Decimal(m.group(1)) * Decimal(str(_SUFFIX[m.group(2)]))


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {} or value == ""


def missing_or_changed(rendered: Any, stored: Any, path: str = "") -> list[str]:
    """Where `stored` lacks or changed what `rendered` set. Empty lists/maps/strings equal absence
    (the API server's JSON omits them); quantities compare by value ("1" CPU is 1000m);
    scalars compare as strings where YAML typing differs (port 8080 vs "8080" is a real change,
    caught because the stored type comes back from a typed field)."""
    if isinstance(rendered, dict):
        if not isinstance(stored, dict):
            return (
                []
                if _empty(rendered) and _empty(stored)
                else [f"{path}: {rendered!r} -> {stored!r}"]
            )
        out = []
        for key, value in rendered.items():
            if key not in stored:
                if not _empty(value):
                    out.append(f"{path}.{key}: pruned (was {value!r})")
                continue
            out += missing_or_changed(value, stored[key], f"{path}.{key}")
        return out
    if isinstance(rendered, list):
        if _empty(rendered) and _empty(stored):
            return []
        if not isinstance(stored, list) or len(stored) != len(rendered):
            return [f"{path}: {rendered!r} -> {stored!r}"]
        return [
            x
            for i, (a, b) in enumerate(zip(rendered, stored, strict=True))
            for x in missing_or_changed(a, b, f"{path}[{i}]")
        ]
    if rendered == stored:
        return []
    if _empty(rendered) and _empty(stored):
        return []
    qa, qb = _quantity(rendered), _quantity(stored)
    if (
        qa is not None
        and qa == qb
        and re.search(r"(resources|limits|requests|sizeLimit|overhead|capacity)", path)
    ):
        return []
    return [f"{path}: {rendered!r} -> {stored!r}"]


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind")}
    if doc["kind"] == "Secret" and "stringData" in out:
        data = {
            k: base64.b64encode(str(v).encode()).decode() for k, v in out.pop("stringData").items()
        }
        out["data"] = {**out.get("data", {}), **data}
    return out


# --- 1. install: accepted, nothing pruned or defaulted away -----------------------------------


def test_install_stores_every_field_the_chart_set(release: Release) -> None:
    docs = release.manifest()
    assert docs, "helm installed nothing"
    problems = {}
    for doc in docs:
        stored = release.stored(doc)
        diff = missing_or_changed(_comparable(doc), stored)
        if diff:
            problems[f"{doc['kind']}/{doc['metadata']['name']}"] = diff
    assert not problems, json.dumps(problems, indent=1)


def test_monitoring_objects_pass_the_prometheus_operator_schemas(release: Release) -> None:
    """The release's ServiceMonitors/PodMonitors (PrometheusRules where rendered) are stored as
    rendered (the test above); a server-side apply with strict field validation accepts them, and
    refuses the same object with a misspelt field: the CRDs' structural schemas are in force."""
    docs = [d for d in release.manifest() if d["apiVersion"].startswith("monitoring.coreos.com/")]
    assert bool(docs) == _enables_monitors(release.values), [d["kind"] for d in docs]

    def server_apply(doc: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return release.cluster.kubectl(
            "apply", "--server-side", "--force-conflicts", "--dry-run=server",
            "--validate=strict", "--field-manager=schema-check", "-n", release.namespace,
            "-f", "-", stdin=json.dumps(doc), check=False,
        )  # fmt: skip

    for doc in docs:
        result = server_apply(doc)
        assert result.returncode == 0, result.stderr
    for doc in docs:
        if doc["kind"] in ("ServiceMonitor", "PodMonitor"):
            bad = json.loads(json.dumps(doc))
            key = "endpoints" if doc["kind"] == "ServiceMonitor" else "podMetricsEndpoints"
            bad["spec"][key][0]["scrapeInterval"] = "30s"  # the field is `interval`
            result = server_apply(bad)
            assert result.returncode != 0 and "scrapeInterval" in result.stderr, result.stderr


def test_the_comparison_catches_pruning_and_defaulting(cluster: Cluster, crds: None) -> None:
    """The check above is not vacuous: a field KServe's structural schema does not know is pruned,
    and the comparison reports it (as it reports a value the API server changed)."""
    ns = _namespace(cluster)
    try:
        isvc = {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {"name": "probe", "namespace": ns},
            "spec": {
                "predictor": {
                    "minReplicas": 1,
                    "notAField": "x",
                    "model": {"modelFormat": {"name": "gguf"}, "storageUri": "pvc://m/"},
                }
            },
        }
        # (kubectl's default strict field validation would refuse it; helm does not ask for it)
        cluster.kubectl("apply", "--validate=ignore", "-f", "-", stdin=json.dumps(isvc))
        stored = cluster.get_json("inferenceservice.serving.kserve.io", "probe", "-n", ns)
        assert missing_or_changed(_comparable(isvc), stored) == [
            ".spec.predictor.notAField: pruned (was 'x')"
        ]
        assert missing_or_changed({"spec": {"predictor": {"minReplicas": 2}}}, stored) == [
            ".spec.predictor.minReplicas: 2 -> 1"
        ]
    finally:
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


# --- 2. rollout, placement, PDBs and NetworkPolicies ------------------------------------------


def _rolled_out(release: Release) -> list[dict[str, Any]]:
    """Waits for every Deployment of the release to roll out; returns the namespace's pods."""
    cluster, ns = release.cluster, release.namespace
    for dep in (d for d in release.manifest() if d["kind"] == "Deployment"):
        cluster.kubectl(
            "rollout",
            "status",
            f"deployment/{dep['metadata']['name']}",
            "-n",
            ns,
            "--timeout=180s",
            timeout=200,
        )
    items: list[dict[str, Any]] = cluster.get_json("pods", "-n", ns)["items"]
    return items


def test_every_deployment_rolls_out_on_the_right_nodes(release: Release) -> None:
    cluster, ns = release.cluster, release.namespace
    docs = release.manifest()
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    pods = _rolled_out(release)
    if release.values and release.values.name == "values-prod.yaml":  # the GPU path, on GPU nodes
        assert any("nvidia.com/gpu" in json.dumps(p["spec"]["containers"]) for p in pods)

    def running_as_asked() -> bool:
        # The stored replicas: with autoscaling on, KEDA or an HPA may have moved them.
        running = len(
            [
                p
                for p in cluster.get_json("pods", "-n", ns)["items"]
                if p["status"].get("phase") == "Running"
            ]
        )
        return running == sum(int(release.stored(d)["spec"]["replicas"]) for d in deployments)

    wait_until("every Deployment's pods Running", running_as_asked, timeout=120)
    pods = cluster.get_json("pods", "-n", ns)["items"]
    for pod in pods:
        labels = pod["metadata"]["labels"]
        node = pod["spec"]["nodeName"]
        component = labels["app.kubernetes.io/component"]
        gpus = [
            c
            for c in pod["spec"]["containers"]
            if "nvidia.com/gpu" in (c.get("resources", {}).get("limits") or {})
        ]
        if component == "sandbox":
            assert node in GVISOR_NODES, (pod["metadata"]["name"], node)
            assert pod["spec"]["runtimeClassName"] == "gvisor"
        elif gpus:
            assert node in GPU_NODES, (pod["metadata"]["name"], node)
            pool = pod["spec"].get("nodeSelector", {}).get("cloud.google.com/gke-accelerator")
            if pool:
                assert (
                    node
                    == {"nvidia-l4": "kwok-gpu-l4-0", "nvidia-tesla-a100": "kwok-gpu-a100-0"}[pool]
                ), (pool, node)
        else:
            assert node not in GVISOR_NODES | GPU_NODES, (pod["metadata"]["name"], node)
    for kind in ("PodDisruptionBudget", "NetworkPolicy", "InferenceService", "ServingRuntime"):
        for doc in (d for d in docs if d["kind"] == kind):
            release.stored(doc)  # accepted and readable
    for doc in (d for d in docs if d["kind"] == "PodDisruptionBudget"):
        pdb = release.stored(doc)

        def observed(pdb_name: str = doc["metadata"]["name"]) -> bool:
            status = cluster.get_json("pdb", pdb_name, "-n", ns).get("status", {})
            return bool(status.get("expectedPods", 0) > 0) and status.get(
                "currentHealthy"
            ) == status.get("expectedPods")

        wait_until(f"PDB {pdb['metadata']['name']} sees healthy pods", observed, timeout=60)


def test_public_edge_ports_reach_ready_router_pods(release: Release) -> None:
    """With tenants, TLS (mTLS), the Redis ledger and the HTTP API on, the router rolls out with
    the Secrets mounted and its Service's tls and http ports reach ready endpoints."""
    if release.values is None or release.values.name != PUBLIC_EDGE:
        pytest.skip("public-edge values only")
    cluster, ns = release.cluster, release.namespace
    release_router = f"{RELEASE}-router"
    cluster.kubectl(
        "rollout", "status", f"deployment/{release_router}", "-n", ns, "--timeout=180s", timeout=200
    )
    deploy = cluster.get_json("deployment", release_router, "-n", ns)
    pod = deploy["spec"]["template"]["spec"]
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"codecascade-tenants", "codecascade-router-tls", "codecascade-client-ca"}
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["LEDGER_STORE"]["value"] == "redis"
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "codecascade-redis"
    assert deploy["status"].get("readyReplicas") == deploy["spec"]["replicas"] == 2

    def ready_ports() -> set[str] | None:
        slices = cluster.get_json(
            "endpointslices", "-n", ns, "-l", f"kubernetes.io/service-name={release_router}"
        )["items"]
        ready = [
            e
            for s in slices
            for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")
        ]
        ports = {p["name"] for s in slices for p in s.get("ports") or []}
        return ports if len(ready) == 2 and {"tls", "http"} <= ports else None

    assert {"grpc", "tls", "http"} <= wait_until("router endpoints on tls and http", ready_ports)
    ingress = cluster.get_json("ingress", f"{release_router}-http", "-n", ns)
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"


def test_gpu_tiers_are_placed_on_gpu_nodes_only(release: Release) -> None:
    """InferenceService predictors are not run here (no KServe controller): their stored pod fields
    must carry what puts a GPU pod on a GPU pool (GPU limit, toleration of the GPU taint)."""
    for doc in (d for d in release.manifest() if d["kind"] == "InferenceService"):
        pred = release.stored(doc)["spec"]["predictor"]
        containers = [pred.get("model", {}), *pred.get("containers", [])]
        if any(
            "nvidia.com/gpu" in (c.get("resources", {}).get("limits") or {}) for c in containers
        ):
            assert pred.get("nodeSelector") or pred.get("affinity"), doc["metadata"]["name"]
            assert any(t.get("key") == "nvidia.com/gpu" for t in pred.get("tolerations", []))


POOLS = {"nvidia-l4": "kwok-gpu-l4-0", "nvidia-tesla-a100": "kwok-gpu-a100-0"}


def _predictor_pod(runtime: dict[str, Any], isvc: dict[str, Any]) -> dict[str, Any]:
    """The predictor pod of a RawDeployment InferenceService, merged as KServe's controller does
    it (no KServe controller runs here; this merge is the test's stand-in): the runtime's container
    with the model's args appended, the model's env, resources, security context and mounts
    added, and the predictor's pod-level fields. Only fields the stored objects hold are used."""
    pred = isvc["spec"]["predictor"]
    model = pred["model"]
    (base,) = runtime["spec"]["containers"]
    container = json.loads(json.dumps(base))
    container["args"] = [*base.get("args", []), *model.get("args", [])]
    env = {e["name"]: e for e in base.get("env", [])} | {e["name"]: e for e in model.get("env", [])}
    container["env"] = list(env.values())
    container["resources"] = model["resources"]
    container["securityContext"] = model.get("securityContext", base.get("securityContext"))
    container["volumeMounts"] = [*base.get("volumeMounts", []), *model.get("volumeMounts", [])]
    pod_fields = (
        "serviceAccountName", "automountServiceAccountToken", "enableServiceLinks",
        "terminationGracePeriodSeconds", "securityContext", "nodeSelector", "tolerations",
        "affinity", "runtimeClassName", "priorityClassName", "imagePullSecrets",
    )  # fmt: skip
    spec: dict[str, Any] = {k: pred[k] for k in pod_fields if k in pred}
    spec["containers"] = [container]
    spec["volumes"] = [*runtime["spec"].get("volumes", []), *pred.get("volumes", [])]
    name = isvc["metadata"]["name"] + "-predictor-probe"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": pred.get("labels", {})},
        "spec": spec,
    }


def test_huggingface_predictors_pass_pod_security_and_land_on_their_gpu_pool(
    release: Release,
) -> None:
    """backend huggingface (KServe's Hugging Face runtime with vLLM): the pod KServe would make
    from the stored ServingRuntime and InferenceService is admitted by the namespace's `restricted`
    Pod Security level, asks the scheduler for its GPU and lands on the GPU pool its nodeSelector
    names (kwok marks it Ready; no container runs)."""
    cluster, ns = release.cluster, release.namespace
    docs = release.manifest()
    isvcs = [
        d
        for d in docs
        if d["kind"] == "InferenceService"
        and d["spec"]["predictor"]["model"]["modelFormat"]["name"] == "huggingface"
    ]
    if not isvcs:
        pytest.skip("values without huggingface tiers")
    (runtime_doc,) = [
        d
        for d in docs
        if d["kind"] == "ServingRuntime" and d["metadata"]["name"].endswith("-huggingface")
    ]
    runtime = release.stored(runtime_doc)
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for d in isvcs
        for v in d["spec"]["predictor"].get("volumes", [])
        if "persistentVolumeClaim" in v
    }
    pvs = [_static_claim(cluster, ns, claim) for claim in claims]  # k8s/pvc-models.yaml's claim
    pods = [_predictor_pod(runtime, release.stored(d)) for d in isvcs]
    try:
        for pod in pods:
            created = cluster.kubectl(
                "create", "-n", ns, "-f", "-", stdin=json.dumps(pod), check=False
            )
            assert created.returncode == 0, created.stderr  # Pod Security `restricted` admits it
            assert "Warning" not in created.stderr, created.stderr
        for pod in pods:
            name = pod["metadata"]["name"]
            cluster.kubectl(
                "wait", "--for=condition=Ready", f"pod/{name}", "-n", ns, "--timeout=120s",
                timeout=140,
            )  # fmt: skip
            stored = cluster.get_json("pod", name, "-n", ns)
            pool = pod["spec"]["nodeSelector"]["cloud.google.com/gke-accelerator"]
            assert stored["spec"]["nodeName"] == POOLS[pool], (name, stored["spec"]["nodeName"])
            (container,) = stored["spec"]["containers"]
            assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
            assert "--backend=vllm" in container["args"]
    finally:
        for pod in pods:
            cluster.kubectl(
                "delete", "pod", pod["metadata"]["name"], "-n", ns, "--wait=false", check=False
            )
        for pv in pvs:
            cluster.kubectl("delete", "pv", pv, "--wait=false", check=False)


# --- 3. RBAC and tokens -------------------------------------------------------------------------


def _can_i_list(cluster: Cluster, ns: str, sa: str) -> set[tuple[str, str, str]]:
    out = cluster.kubectl(
        "auth", "can-i", "--list", "-n", ns, "--as", f"system:serviceaccount:{ns}:{sa}"
    ).stdout
    rules = set()
    for line in out.splitlines()[1:]:
        # Columns: Resources, Non-Resource URLs, Resource Names, Verbs; bracketed lists may hold
        # several names or verbs ([get patch]).
        cols = re.findall(r"\[[^\]]*\]|\S+", line)
        if line.startswith(" "):  # non-resource URL rows start with the empty Resources column
            url, _names, verbs = cols[0], cols[1], cols[2]
            for verb in verbs.strip("[]").split():
                rules.add(("", url.strip("[]"), verb))
        else:
            resource, names, verbs = cols[0], cols[-2], cols[-1]
            for verb in verbs.strip("[]").split():
                for name in names.strip("[]").split() or [""]:
                    rules.add((resource, name, verb))
    return rules


def _expected_rules(release: Release, component: str) -> set[tuple[str, str, str]]:
    """docs/deploy.md's RBAC table: the baseline, and for the autoscaler of autoscaling.mode direct
    get/patch on the scale of exactly the tier objects it sizes (the Role's resourceNames)."""
    if component != "autoscaler":
        return EXPECTED_RULES[component]
    rules = set(BASELINE_RULES)
    for role in (d for d in release.manifest() if d["kind"] == "Role"):
        for rule in role["rules"]:
            assert rule["verbs"] == ["get", "patch"], rule
            assert (rule["apiGroups"], rule["resources"]) in (
                (["apps"], ["deployments/scale"]),
                (["serving.kserve.io"], ["inferenceservices"]),
            ), rule
            base, _, sub = rule["resources"][0].partition("/")
            resource = f"{base}.{rule['apiGroups'][0]}" + (f"/{sub}" if sub else "")
            rules |= {(resource, n, v) for n in rule["resourceNames"] for v in rule["verbs"]}
    return rules


def test_service_accounts_have_exactly_the_documented_rights(release: Release) -> None:
    cluster, ns = release.cluster, release.namespace
    accounts = [d for d in release.manifest() if d["kind"] == "ServiceAccount"]
    assert accounts
    for sa in accounts:
        component = sa["metadata"]["labels"]["app.kubernetes.io/component"]
        assert _can_i_list(cluster, ns, sa["metadata"]["name"]) == _expected_rules(
            release, component
        ), component
        stored = release.stored(sa)
        assert stored.get("automountServiceAccountToken") is False
        for verb, what in (("get", "secrets"), ("list", "pods"), ("create", "pods/exec")):
            proc = cluster.kubectl(
                "auth",
                "can-i",
                verb,
                what,
                "-n",
                ns,
                "--as",
                f"system:serviceaccount:{ns}:{sa['metadata']['name']}",
                check=False,
            )
            assert proc.stdout.strip() == "no", (sa["metadata"]["name"], verb, what)


def test_no_pod_gets_a_service_account_token(release: Release) -> None:
    pods = _rolled_out(release)
    assert pods
    direct = any(d["kind"] == "Role" for d in release.manifest())
    for pod in pods:
        spec = pod["spec"]
        # The one exception (docs/deploy.md, RBAC): the autoscaler of mode direct calls the API.
        if direct and pod["metadata"]["labels"]["app.kubernetes.io/component"] == "autoscaler":
            assert spec.get("automountServiceAccountToken") is True
            continue
        assert spec.get("automountServiceAccountToken") is False
        projected = [v for v in spec.get("volumes", []) if "projected" in v]
        assert not projected, (pod["metadata"]["name"], projected)
        for c in spec["containers"]:
            mounts = [m["mountPath"] for m in c.get("volumeMounts", [])]
            assert "/var/run/secrets/kubernetes.io/serviceaccount" not in mounts


# --- 4. upgrades --------------------------------------------------------------------------------


def _rollout_state(cluster: Cluster, ns: str) -> dict[str, tuple[int, str]]:
    deps = cluster.get_json("deployments", "-n", ns)["items"]
    return {
        d["metadata"]["name"]: (
            d["metadata"]["generation"],
            json.dumps(d["spec"]["template"], sort_keys=True),
        )
        for d in deps
    }


def _other_objects_generation(cluster: Cluster, ns: str) -> dict[str, Any]:
    out = {}
    for kind in (
        "inferenceservices.serving.kserve.io",
        "servingruntimes.serving.kserve.io",
        "configmaps",
        "networkpolicies",
        "poddisruptionbudgets",
    ):
        for obj in cluster.get_json(kind, "-n", ns, "-l", f"app.kubernetes.io/instance={RELEASE}")[
            "items"
        ]:
            out[f"{kind}/{obj['metadata']['name']}"] = obj["metadata"]["resourceVersion"]
    return out


@pytest.fixture
def upgradable(cluster: Cluster, crds: None) -> Iterator[Release]:
    ns = _namespace(cluster)
    rel = Release(cluster, ns, ROOT / "k8s" / "values-dev.yaml", [])
    rel.helm("install", RELEASE, str(CHART), *rel.value_args(), "--wait", "--timeout", "3m")
    yield rel
    rel.helm("uninstall", RELEASE, "--wait", check=False)
    cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_upgrade_rolls_the_router_on_policy_or_tier_change_and_nothing_otherwise(
    upgradable: Release, tmp_path: Path
) -> None:
    rel, cluster, ns = upgradable, upgradable.cluster, upgradable.namespace
    router = f"{RELEASE}-router"  # the release name contains the chart's: fullname is the release
    before, others = _rollout_state(cluster, ns), _other_objects_generation(cluster, ns)
    # Unchanged values: nothing rolls, no object is rewritten.
    rel.helm("upgrade", RELEASE, str(CHART), *rel.value_args(), "--wait", "--timeout", "3m")
    assert _rollout_state(cluster, ns) == before
    assert _other_objects_generation(cluster, ns) == others
    # A policy change: the router's pod template changes (checksum/config) and it rolls out.
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    policy = defaults["policy"]
    policy["tiers"][1]["threshold"] = 0.7
    changed_policy = tmp_path / "policy.yaml"
    changed_policy.write_text(yaml.safe_dump({"policy": policy}))
    rel.helm(
        "upgrade",
        RELEASE,
        str(CHART),
        *rel.value_args(),
        "-f",
        str(changed_policy),
        "--wait",
        "--timeout",
        "3m",
    )
    after_policy = _rollout_state(cluster, ns)
    assert after_policy[router][0] > before[router][0]
    assert after_policy[router][1] != before[router][1]
    cluster.kubectl(
        "rollout", "status", f"deployment/{router}", "-n", ns, "--timeout=120s", timeout=150
    )
    rs = cluster.get_json("replicasets", "-n", ns, "-l", "app.kubernetes.io/component=router")[
        "items"
    ]
    assert len(rs) == 2 and sorted(int(r["status"].get("replicas", 0)) for r in rs) == [0, 1]
    # A tier-list change (a tier's price): rolls again.
    tiers = defaults["tiers"]
    tiers[0]["price_per_1k_tokens"] = 0.001
    changed_tiers = tmp_path / "tiers.yaml"
    changed_tiers.write_text(yaml.safe_dump({"tiers": tiers}))
    rel.helm(
        "upgrade",
        RELEASE,
        str(CHART),
        *rel.value_args(),
        "-f",
        str(changed_policy),
        "-f",
        str(changed_tiers),
        "--wait",
        "--timeout",
        "3m",
    )
    after_tiers = _rollout_state(cluster, ns)
    assert after_tiers[router][0] > after_policy[router][0]
    assert after_tiers[router][1] != after_policy[router][1]


def test_rotating_an_out_of_band_tier_key_secret_rolls_the_callers(
    cluster: Cluster, crds: None, tmp_path: Path
) -> None:
    """The key Secret is made outside the chart (as in production): after rotating it, `helm
    upgrade` with the same values restarts router and test synthesis (checksum/tier-secrets from
    the Secret's data), and not the sandbox; an upgrade without rotation restarts nothing."""
    ns = _namespace(cluster)
    values = yaml.safe_load(
        (ROOT / "tests" / "charts" / "values" / "external-tiers.yaml").read_text()
    )
    values["tenantSecrets"] = []
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    rel = Release(cluster, ns, path, [])
    try:
        cluster.kubectl(
            "create",
            "secret",
            "generic",
            "tenant-acme-openai",
            "-n",
            ns,
            "--from-literal=api-key=sk-one",
        )
        rel.helm("install", RELEASE, str(CHART), *rel.value_args(), "--wait", "--timeout", "3m")
        first = _rollout_state(cluster, ns)
        rel.helm("upgrade", RELEASE, str(CHART), *rel.value_args(), "--wait", "--timeout", "3m")
        assert _rollout_state(cluster, ns) == first
        cluster.apply(
            cluster.kubectl(
                "create",
                "secret",
                "generic",
                "tenant-acme-openai",
                "-n",
                ns,
                "--from-literal=api-key=sk-two",
                "--dry-run=client",
                "-o",
                "yaml",
            ).stdout
        )
        rel.helm("upgrade", RELEASE, str(CHART), *rel.value_args(), "--wait", "--timeout", "3m")
        second = _rollout_state(cluster, ns)
        for component in ("router", "testsynth"):
            name = f"{RELEASE}-{component}"
            assert second[name][0] > first[name][0], component
        assert second[f"{RELEASE}-sandbox"] == first[f"{RELEASE}-sandbox"]
    finally:
        rel.helm("uninstall", RELEASE, "--wait", check=False)
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_wait_tiers_waits_for_inference_services_ready(cluster: Cluster, crds: None) -> None:
    """k8s/wait-tiers.sh: `kubectl wait isvc --for=condition=Ready` (helm --wait ignores custom
    resources). No KServe controller runs here, so the test plays it: the script times out while
    the InferenceServices have no Ready condition and returns once their status says Ready."""
    ns = _namespace(cluster)
    rel = Release(cluster, ns, None, [])
    script = ROOT / "k8s" / "wait-tiers.sh"
    env = {
        "KUBECTL": str(cluster.kubectl_path),
        "KUBECONFIG": str(cluster.kubeconfig),
        "PATH": "/usr/bin:/bin",
        # kubectl's discovery cache goes to $HOME/.kube (to ./.kube without HOME)
        "HOME": str(cluster.run_dir),
    }
    try:
        rel.helm("install", RELEASE, str(CHART), "--wait", "--timeout", "3m")
        proc = subprocess.run(
            ["bash", str(script), RELEASE, ns, "3s"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert proc.returncode != 0 and "timed out" in proc.stderr, proc.stderr
        for doc in (d for d in rel.manifest() if d["kind"] == "InferenceService"):
            status = {
                "status": {
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "lastTransitionTime": "2026-01-01T00:00:00Z",
                        }
                    ]
                }
            }
            cluster.kubectl(
                "patch",
                "inferenceservice.serving.kserve.io",
                doc["metadata"]["name"],
                "-n",
                ns,
                "--subresource=status",
                "--type=merge",
                "-p",
                json.dumps(status),
            )
        proc = subprocess.run(
            ["bash", str(script), RELEASE, ns, "30s"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "is ready" in proc.stdout
    finally:
        rel.helm("uninstall", RELEASE, "--wait", check=False)
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


# --- 5. uninstall -------------------------------------------------------------------------------

# Kept after `helm uninstall` (docs/deploy.md, "Uninstall"): what the namespace itself has
# (kube-root-ca.crt, the default ServiceAccount) and Events. Nothing of the release.
KEPT = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}


def test_uninstall_leaves_nothing_behind(cluster: Cluster, crds: None) -> None:
    ns = _namespace(cluster)
    rel = Release(
        cluster,
        ns,
        ROOT / "tests" / "charts" / "values" / "external-tiers.yaml",
        [],
    )
    try:
        rel.helm("install", RELEASE, str(CHART), *rel.value_args(), "--wait", "--timeout", "3m")
        rel.helm(
            "install", "second", str(CHART), "--wait", "--timeout", "3m"
        )  # defaults: KServe tiers
        rel.helm("uninstall", RELEASE, "--wait", "--timeout", "2m")
        rel.helm("uninstall", "second", "--wait", "--timeout", "2m")
        kinds = cluster.kubectl(
            "api-resources", "--verbs=list", "--namespaced", "-o", "name"
        ).stdout.split()
        kinds = [k for k in kinds if k not in ("events", "events.events.k8s.io")]

        def leftovers() -> list[tuple[str, str]]:
            out = cluster.kubectl(
                "get", ",".join(kinds), "-n", ns, "-o", "json", "--ignore-not-found"
            ).stdout
            items = json.loads(out)["items"] if out.strip() else []
            left = [(i["kind"], i["metadata"]["name"]) for i in items]
            return [x for x in left if x not in KEPT]

        wait_until("nothing but the namespace's own objects", lambda: leftovers() == [], timeout=90)
        cluster_scoped = cluster.kubectl(
            "api-resources", "--verbs=list", "--namespaced=false", "-o", "name"
        ).stdout.split()
        for selector in (
            f"app.kubernetes.io/instance={RELEASE}",
            "app.kubernetes.io/instance=second",
        ):
            out = cluster.get_json(",".join(cluster_scoped), "-l", selector)
            assert out["items"] == [], out["items"]
    finally:
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
