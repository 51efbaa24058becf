"""Smoke tests of the local control plane itself (scripts/cluster.sh): the API server, the fake
nodes kwok keeps Ready, scheduling onto them, admission (PodSecurity, RuntimeClass) and KEDA.

Pods here never run a container (kwok marks them Running/Ready), so these tests check what the
API server, the controllers and the scheduler decide, which is what a chart test needs.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.kube import Cluster

pytestmark = pytest.mark.cluster

K8S_VERSION = "v1.36.3"
CPU_NODES = {"kwok-cpu-0", "kwok-cpu-1"}
GVISOR_NODES = {"kwok-gvisor-0"}
GPU_NODES = {"kwok-gpu-l4-0": 2, "kwok-gpu-a100-0": 4}
IMAGE = "registry.k8s.io/pause:3.10"  # never pulled: kwok runs no containers

RESTRICTED_CONTAINER = """
        securityContext:
          allowPrivilegeEscalation: false
          runAsNonRoot: true
          runAsUser: 65532
          capabilities: {drop: [ALL]}
          seccompProfile: {type: RuntimeDefault}"""


def wait_until(what: str, probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace enforcing Pod Security `restricted`, as k8s/namespace.yaml does."""
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    cluster.apply(f"""
apiVersion: v1
kind: Namespace
metadata:
  name: {name}
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
""")
    wait_until(
        f"ServiceAccount default in {name}",
        lambda: cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0,
    )
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def pod_manifest(name: str, ns: str, extra_spec: str = "", resources: str = "") -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}}}
spec:
  automountServiceAccountToken: false
{extra_spec}
  containers:
      - name: main
        image: {IMAGE}{RESTRICTED_CONTAINER}
{resources}
"""


def scheduled_node(cluster: Cluster, ns: str, pod: str, timeout: float = 60) -> str:
    def probe() -> str:
        obj = cluster.get_json("pod", pod, "-n", ns)
        return str(obj["spec"].get("nodeName") or "")

    return str(wait_until(f"pod {ns}/{pod} scheduled", probe, timeout))


def test_api_server_is_ready_and_at_the_pinned_release(cluster: Cluster) -> None:
    assert cluster.api_get("/readyz") == "ok"
    assert cluster.api_get("/livez") == "ok"
    version = cluster.api_get("/version")
    assert f'"gitVersion": "{K8S_VERSION}"' in version, version


def test_every_component_listens_on_loopback_only(cluster: Cluster) -> None:
    pids = cluster.pids()
    assert set(pids) == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "keda-operator",
    }
    listening = _listening_sockets()
    seen: dict[str, list[str]] = {}
    for name, pid in pids.items():
        inodes = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            m = re.fullmatch(r"socket:\[(\d+)\]", _readlink(fd))
            if m:
                inodes.add(m.group(1))
        seen[name] = sorted(addr for inode, addr in listening.items() if inode in inodes)
    assert all(seen.values()), f"a component listens nowhere?! {seen}"
    wide = {n: [a for a in addrs if not a.startswith("127.0.0.1:")] for n, addrs in seen.items()}
    assert not any(wide.values()), f"listening beyond loopback: {wide}"


def _readlink(p: Path) -> str:
    try:
        return str(p.readlink())
    except OSError:
        return ""


def _listening_sockets() -> dict[str, str]:
    """inode -> "ip:port" of every TCP socket in LISTEN state (/proc/net/tcp and tcp6)."""
    out: dict[str, str] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] != "0A":  # LISTEN
                continue
            hexip, hexport = f[1].split(":")
            if len(hexip) == 8:
                ip = ".".join(str(int(hexip[i : i + 2], 16)) for i in (6, 4, 2, 0))
            elif hexip == "0" * 32:
                ip = "[::]"
            elif hexip == "0" * 24 + "01000000":
                ip = "[::1]"
            else:
                ip = f"[{hexip}]"
            out[f[9]] = f"{ip}:{int(hexport, 16)}"
    return out


def test_fake_nodes_are_ready_with_their_labels_taints_and_capacity(cluster: Cluster) -> None:
    nodes = {
        n["metadata"]["name"]: n
        for n in cluster.get_json("nodes", "-l", "codecascade/test-cluster=true")["items"]
    }
    assert set(nodes) == CPU_NODES | GVISOR_NODES | set(GPU_NODES)
    for name, node in nodes.items():
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", (name, node["status"]["conditions"])
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
        taints = {(t["key"], t.get("value"), t["effect"]) for t in node["spec"].get("taints", [])}
        labels = node["metadata"]["labels"]
        gpus = node["status"]["allocatable"].get("nvidia.com/gpu")
        if name in GPU_NODES:
            assert gpus == str(GPU_NODES[name])
            assert node["status"]["capacity"]["nvidia.com/gpu"] == str(GPU_NODES[name])
            assert labels["cloud.google.com/gke-accelerator"].startswith("nvidia-")
            assert taints == {("nvidia.com/gpu", "present", "NoSchedule")}
        else:
            assert gpus is None
        if name in GVISOR_NODES:
            assert labels["codecascade/gvisor"] == "true"
            assert taints == {("codecascade/gvisor", "true", "NoSchedule")}
        if name in CPU_NODES:
            assert "codecascade/gvisor" not in labels and not taints
    # The node lease kwok renews (the node lifecycle controller would mark a node NotReady
    # without it).
    leases = {
        x["metadata"]["name"] for x in cluster.get_json("leases", "-n", "kube-node-lease")["items"]
    }
    assert set(nodes) <= leases


def test_deployment_becomes_available_on_plain_kwok_nodes(cluster: Cluster, namespace: str) -> None:
    cluster.apply(f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {namespace}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      automountServiceAccountToken: false
      containers:
      - name: main
        image: {IMAGE}
        resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}{RESTRICTED_CONTAINER}
""")
    cluster.kubectl(
        "rollout", "status", "deployment/web", "-n", namespace, "--timeout=120s", timeout=150
    )
    pods = cluster.get_json("pods", "-n", namespace, "-l", "app=web")["items"]
    assert len(pods) == 2
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        # Tainted gVisor/GPU nodes are not for pods that do not tolerate them.
        assert pod["spec"]["nodeName"] in CPU_NODES, pod["spec"]["nodeName"]
        assert pod["status"]["podIP"].startswith("10.244.")


def test_pod_requesting_a_gpu_lands_only_on_a_gpu_node(cluster: Cluster, namespace: str) -> None:
    toleration = "  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]"
    gpu = "        resources: {limits: {nvidia.com/gpu: 1}}"
    cluster.apply(pod_manifest("gpu-any", namespace, toleration, gpu))
    assert scheduled_node(cluster, namespace, "gpu-any") in GPU_NODES
    # A nodeSelector as values-prod sets it picks the A100 pool.
    a100 = toleration + "\n  nodeSelector: {cloud.google.com/gke-accelerator: nvidia-tesla-a100}"
    cluster.apply(pod_manifest("gpu-a100", namespace, a100, gpu))
    assert scheduled_node(cluster, namespace, "gpu-a100") == "kwok-gpu-a100-0"
    # More GPUs than any node has: the scheduler refuses for lack of nvidia.com/gpu.
    cluster.apply(
        pod_manifest(
            "gpu-too-many",
            namespace,
            toleration,
            "        resources: {limits: {nvidia.com/gpu: 8}}",
        )
    )

    def unschedulable() -> str:
        conds = cluster.get_json("pod", "gpu-too-many", "-n", namespace)["status"].get(
            "conditions", []
        )
        return next(
            (
                c.get("message", "")
                for c in conds
                if c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable"
            ),
            "",
        )

    assert "Insufficient nvidia.com/gpu" in wait_until("gpu-too-many unschedulable", unschedulable)


def test_gvisor_runtimeclass_pod_lands_on_the_gvisor_node(cluster: Cluster, namespace: str) -> None:
    rc = cluster.get_json("runtimeclass", "gvisor")
    assert rc["handler"] == "runsc"
    cluster.apply(pod_manifest("sandboxed", namespace, "  runtimeClassName: gvisor"))
    assert scheduled_node(cluster, namespace, "sandboxed") in GVISOR_NODES
    pod = cluster.get_json("pod", "sandboxed", "-n", namespace)
    # The RuntimeClass admission plugin merged the class's scheduling and overhead into the pod.
    assert pod["spec"]["nodeSelector"] == {"codecascade/gvisor": "true"}
    assert pod["spec"]["overhead"] == {"cpu": "100m", "memory": "64Mi"}
    cluster.apply(pod_manifest("plain", namespace))
    assert scheduled_node(cluster, namespace, "plain") in CPU_NODES


def test_pod_security_admission_enforces_restricted(cluster: Cluster, namespace: str) -> None:
    # The API server allows privileged containers (--allow-privileged=true, as kubeadm sets it),
    # so what refuses these pods is the PodSecurity admission plugin and the namespace's label.
    for name, container in {
        "privileged": "securityContext: {privileged: true}",
        "no-security-context": "ports: [{containerPort: 8080}]",
    }.items():
        proc = cluster.kubectl(
            "apply",
            "-f",
            "-",
            check=False,
            stdin=f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  containers:
  - name: main
    image: {IMAGE}
    {container}
""",
        )
        assert proc.returncode != 0, name
        assert 'violates PodSecurity "restricted:latest"' in proc.stderr, proc.stderr
    # The same privileged pod is accepted where no Pod Security level is enforced.
    other = f"{namespace}-baseline"
    cluster.kubectl("create", "namespace", other)
    try:
        wait_until(
            f"ServiceAccount default in {other}",
            lambda: (
                cluster.kubectl("get", "sa", "default", "-n", other, check=False).returncode == 0
            ),
        )
        cluster.kubectl(
            "apply",
            "-f",
            "-",
            stdin=f"""
apiVersion: v1
kind: Pod
metadata: {{name: privileged, namespace: {other}}}
spec:
  automountServiceAccountToken: false
  containers:
  - name: main
    image: {IMAGE}
    securityContext: {{privileged: true}}
""",
        )
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


KEDA_CRDS = {
    "scaledobjects.keda.sh",
    "triggerauthentications.keda.sh",
    "scaledjobs.keda.sh",
    "clustertriggerauthentications.keda.sh",
    "cloudeventsources.eventing.keda.sh",
    "clustercloudeventsources.eventing.keda.sh",
}


def test_keda_crds_are_established_and_the_operator_is_running(cluster: Cluster) -> None:
    crds = {c["metadata"]["name"]: c for c in cluster.get_json("crd")["items"]}
    assert KEDA_CRDS <= set(crds)
    for name in KEDA_CRDS:
        conds = {c["type"]: c["status"] for c in crds[name]["status"]["conditions"]}
        assert conds.get("Established") == "True", (name, conds)
    pid = cluster.pids()["keda-operator"]
    assert Path(f"/proc/{pid}").exists()
    log = (cluster.run_dir / "logs" / "keda-operator.log").read_text(errors="replace")
    started = [
        line
        for line in log.splitlines()
        if "Starting workers" in line and '"controller":"scaledobject"' in line
    ]
    assert started, log[-3000:]


def test_keda_reconciles_a_scaled_object_into_an_hpa(cluster: Cluster, namespace: str) -> None:
    cluster.apply(f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: worker, namespace: {namespace}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: worker}}}}
  template:
    metadata: {{labels: {{app: worker}}}}
    spec:
      automountServiceAccountToken: false
      containers:
      - name: main
        image: {IMAGE}{RESTRICTED_CONTAINER}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {{name: worker, namespace: {namespace}}}
spec:
  scaleTargetRef: {{name: worker}}
  minReplicaCount: 1
  maxReplicaCount: 5
  triggers:
  - type: cron
    metadata: {{timezone: Etc/UTC, start: 0 0 1 1 *, end: 1 0 1 1 *, desiredReplicas: "3"}}
""")

    def hpa() -> Any:
        proc = cluster.kubectl(
            "get", "hpa", "keda-hpa-worker", "-n", namespace, "-o", "json", check=False
        )
        return proc.returncode == 0 and proc.stdout

    obj = json.loads(wait_until("KEDA's HPA keda-hpa-worker", hpa, timeout=90))
    assert obj["spec"]["minReplicas"] == 1
    assert obj["spec"]["maxReplicas"] == 5
    assert obj["spec"]["scaleTargetRef"]["name"] == "worker"
    assert obj["metadata"]["ownerReferences"][0]["kind"] == "ScaledObject"

    def ready() -> bool:
        so = cluster.get_json("scaledobject", "worker", "-n", namespace)
        conds = {c["type"]: c["status"] for c in so.get("status", {}).get("conditions", [])}
        return conds.get("Ready") == "True"

    wait_until("ScaledObject worker Ready", ready, timeout=60)
