"""The autoscaler against the live control plane (issue 16): escalations make tiers scale from zero.

Signals are real: an in-process router (the real `CascadeServicer` and `Cascade` behind a real gRPC
server, its `RouterMetrics` on a real /metrics endpoint) whose tiers are test doubles that always
escalate S -> M -> L; a load generator keeps a few requests in flight. The autoscaler is the
product itself, `cascade serve autoscaler`, a separate process on loopback that scrapes that
/metrics (signal_source scrape).

1. mode direct: the autoscaler, authenticated as the chart's ServiceAccount with a token from the
   TokenRequest API and holding only the chart's Role, scales M (the chart's Triton Deployment) and
   L (a Deployment named as KServe names a predictor) 0 -> N -> 0 through the scale subresource;
   kwok runs the pods. The Role refuses anything else (the error names verb and resource).
2. mode keda: KEDA's operator (scripts/cluster.sh) activates L's Deployment from zero through our
   External Scaler (a ScaledObject with an external-push trigger at 127.0.0.1:<port>) when
   escalations start, and scales it back to zero after they stop (0 <-> 1 comes from IsActive).
3. mode keda, 1 <-> N: KEDA's HPA reads our GetMetrics through KEDA's metrics API server
   (cmd/adapter) registered as external.metrics.k8s.io. v2.21.0's adapter serves its own metrics
   on every interface, so it runs in a network namespace of its own (root and iproute2 needed;
   see the `keda_metrics_api` fixture and tests/cluster/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from codecascade.autoscaler.config import TierObject
from codecascade.autoscaler.kube import KubeScaleTarget, ScaleError, load_api_client
from codecascade.core.usage import Usage
from codecascade.mesh.metrics import MetricsEndpoint
from codecascade.router.cascade import Cascade
from codecascade.router.metrics import RouterMetrics
from codecascade.router.policy import CascadePolicy, TierPolicy
from codecascade.router.ports import AssertSet, Candidates, Execution
from tests.cluster.kube import Cluster
from tests.contract.router.edge_harness import Edged, edged_router

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "codecascade"
HELM = ROOT / "build" / "tools" / "bin" / "helm"
CASCADE = Path(sys.executable).with_name("cascade")
POLICY = CascadePolicy(
    tiers=(
        TierPolicy(tier="S", k=1, test_lines=1, threshold=0.9),
        TierPolicy(tier="M", k=1, test_lines=1, threshold=0.9),
        TierPolicy(tier="L", k=0),  # the last tier answers untested
    )
)
TIER_SECONDS = 0.3  # each double "generates" this long: requests sit in every tier
CONCURRENCY = 6  # requests kept in flight by the load generator


class EscalatingTiers:
    """The router's ports as doubles: every tier writes an answer that fails its test, so S and M
    escalate and L (the last tier) answers; each generation takes TIER_SECONDS."""

    async def write_solutions(self, tier, problem, *, seed, timeout_s):
        await asyncio.sleep(TIER_SECONDS)
        return Candidates((f"# {tier.tier}\nx",) * max(tier.k, 1), Usage(1, 1, 0.0), TIER_SECONDS)

    async def write_tests(self, tier, problem, *, seed, timeout_s):
        return AssertSet(("assert f(1) == 1",), Usage(1, 1, 0.0), 0.01)

    async def run_matrix(self, problem, solutions, tests, *, timeout_s):
        return Execution(tuple((False,) for _ in solutions), 0.01)


@dataclass
class Signals:
    """The running router, its /metrics URL and the load switch."""

    edged: Edged
    metrics_url: str
    load: asyncio.Event
    answered: list[str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _load(signals: Signals) -> None:
    async def one_client() -> None:
        while True:
            await signals.load.wait()
            response, _ = await signals.edged.generate(None)
            signals.answered.append(response.tier)

    await asyncio.gather(*(one_client() for _ in range(CONCURRENCY)))


@pytest.fixture
async def signals(tmp_path: Path) -> AsyncIterator[Signals]:
    registry = CollectorRegistry()
    ports = EscalatingTiers()
    cascade = Cascade(
        POLICY, ports, ports, ports, observers=(RouterMetrics.create(registry).observe,)
    )
    endpoint = MetricsEndpoint(registry, "127.0.0.1", 0)
    try:
        async with edged_router(tmp_path, [], cascade=cascade, auth=False) as edged:
            sig = Signals(edged, f"http://127.0.0.1:{endpoint.port}/metrics", asyncio.Event(), [])
            task = asyncio.create_task(_load(sig))
            try:
                yield sig
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        endpoint.close()


@contextlib.asynccontextmanager
async def autoscaler_running(settings: dict[str, Any], workdir: Path) -> AsyncIterator[int]:
    """`cascade serve autoscaler` on 127.0.0.1:<port> with `settings` as its config section;
    stopped by PID (SIGTERM, then SIGKILL)."""
    port = _free_port()
    config = workdir / "autoscaler.yaml"
    config.write_text(yaml.safe_dump({"autoscaler": settings}))
    log = (workdir / "autoscaler.log").open("wb")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "CODECASCADE_CONFIG": str(config),
        "GRPC_HOST": "127.0.0.1",
        "GRPC_PORT": str(port),
        "METRICS_PORT": "0",
        "LOG_LEVEL": "INFO",
        "OTEL_SDK_DISABLED": "true",
    }
    proc = await asyncio.create_subprocess_exec(
        str(CASCADE), "serve", "autoscaler", env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health: Any = health_pb2_grpc.HealthStub(channel)
            while True:
                if proc.returncode is not None:
                    raise AssertionError(
                        f"cascade serve autoscaler exited {proc.returncode}:\n"
                        + (workdir / "autoscaler.log").read_text(errors="replace")[-3000:]
                    )
                with contextlib.suppress(grpc.RpcError):
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                if time.monotonic() > deadline:
                    raise AssertionError("the autoscaler did not become SERVING within 60 s")
                await asyncio.sleep(0.2)
        yield port
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


async def wait_for(what: str, probe: Callable[[], Any], within_s: float) -> Any:
    deadline = time.monotonic() + within_s
    last: Any = None
    while time.monotonic() < deadline:
        last = await asyncio.to_thread(probe)
        if last:
            return last
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out after {within_s}s waiting for {what}; last: {last!r}")


def _namespace(cluster: Cluster) -> Iterator[str]:
    name = f"as-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    yield from _namespace(cluster)


def _scaled_object(name: str, ns: str, port: int, advanced: dict[str, object] | None = None) -> str:
    """Tier L's ScaledObject (the chart's trigger): Deployment `name` from zero, on OUR scaler
    (external-push at 127.0.0.1:`port`), with short polling and cooldown for a test."""
    spec: dict[str, object] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "pollingInterval": 1,
        "cooldownPeriod": 3,
        "minReplicaCount": 0,
        "maxReplicaCount": 3,
        "triggers": [
            {
                "type": "external-push",
                "metadata": {"scalerAddress": f"127.0.0.1:{port}", "tier": "L"},
            }
        ],
    }
    if advanced is not None:
        spec["advanced"] = advanced
    return yaml.safe_dump(
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        }
    )


def _deployment(name: str, ns: str, replicas: int = 0) -> str:
    """A plain Deployment kwok runs (no container really starts)."""
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "containers": [{"name": "tier", "image": "registry.k8s.io/pause:3.10"}],
                    },
                },
            },
        }
    )


def _running_pods(cluster: Cluster, ns: str, selector: str) -> int:
    pods = cluster.get_json("pods", "-n", ns, "-l", selector)["items"]
    return sum(
        1
        for p in pods
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    )


def _spec_replicas(cluster: Cluster, ns: str, name: str) -> int:
    return int(cluster.get_json("deployment", name, "-n", ns)["spec"].get("replicas", 0))


def _chart_direct_objects(cluster: Cluster, ns: str) -> None:
    """The chart's own objects for mode direct, rendered by helm as an install would: the
    autoscaler's ServiceAccount, Role and RoleBinding, tier M's (Triton) Deployment and account."""
    proc = subprocess.run(
        [
            str(HELM), "template", "codecascade", str(CHART), "-n", ns,
            "-f", str(ROOT / "tests" / "charts" / "values" / "autoscaling-direct.yaml"),
            "-s", "templates/serviceaccount-autoscaler.yaml",
            "-s", "templates/role-autoscaler.yaml",
            "-s", "templates/rolebinding-autoscaler.yaml",
            "-s", "templates/serviceaccount-tier.yaml",
            "-s", "templates/deployment-tier.yaml",
        ],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    cluster.apply(proc.stdout)


def _token_kubeconfig(cluster: Cluster, ns: str, sa: str, path: Path) -> Path:
    """A kubeconfig that authenticates as `sa` (a bound token from the TokenRequest API)."""
    token = cluster.kubectl("create", "token", sa, "-n", ns, "--duration=1h").stdout.strip()
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": cluster.api_url,
                            "certificate-authority": str(cluster.run_dir / "pki" / "ca.crt"),
                        },
                    }
                ],
                "users": [{"name": sa, "user": {"token": token}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": sa}}],
                "current-context": "c",
            }
        )
    )
    return path


def _settings(signals: Signals, **more: Any) -> dict[str, Any]:
    return {
        "chain": ["S", "M", "L"],
        "signal_source": "scrape",
        "router_metrics_urls": [signals.metrics_url],
        "poll_interval_s": 0.5,
        "rate_window_s": 4.0,
        "stabilisation_window_s": 4.0,
        "latency_s": TIER_SECONDS,
        "escalation_prior": 0.0,
        "tiers": {t: {"min_replicas": 0, "max_replicas": 3} for t in ("M", "L")},
        **more,
    }


async def test_direct_mode_scales_real_deployments_from_zero_and_back(
    cluster: Cluster, namespace: str, signals: Signals, tmp_path: Path
) -> None:
    ns = namespace
    _chart_direct_objects(cluster, ns)
    m, lp = "codecascade-tier-m", "codecascade-tier-l-predictor"  # the Role's resourceNames
    cluster.apply(_deployment(lp, ns))
    kubeconfig = _token_kubeconfig(
        cluster, ns, "codecascade-autoscaler", tmp_path / "sa.kubeconfig"
    )

    # The ScaleTarget alone, as the Role allows it: Triton's Deployment (the chart renders its
    # floor, triton.replicas 0) read and set; a Deployment the Role does not name is refused with
    # what to fix.
    target = KubeScaleTarget(
        load_api_client(str(kubeconfig)),
        namespace=ns,
        objects={
            "M": TierObject(kind="deployment", name=m),
            "R": TierObject(kind="deployment", name="codecascade-router"),
            "X": TierObject(kind="deployment", name="codecascade-tier-x"),
        },
    )
    try:
        await target.set_replicas("M", 0)
        assert await target.replicas("M") == 0
        with pytest.raises(ScaleError) as refused:
            await target.set_replicas("R", 3)
        message = str(refused.value)
        assert "RBAC forbids 'patch' on deployments/scale 'codecascade-router'" in message
        assert "forbidden" in message  # the API server's own words follow
        with pytest.raises(
            ScaleError,
            match=re.escape("RBAC forbids 'get' on deployments/scale 'codecascade-tier-x'"),
        ):
            await target.replicas("X")
    finally:
        target.close()
    await wait_for("M at 0 pods", lambda: _running_pods(cluster, ns, "codecascade/tier=m") == 0, 60)

    settings = _settings(
        signals,
        mode="direct",
        kubeconfig=str(kubeconfig),
        kube_namespace=ns,
        kube_targets={
            "M": {"kind": "deployment", "name": m},
            "L": {"kind": "deployment", "name": lp},
        },
    )
    async with autoscaler_running(settings, tmp_path):
        await asyncio.sleep(2)
        assert _spec_replicas(cluster, ns, m) == 0 and _spec_replicas(cluster, ns, lp) == 0
        started = time.monotonic()
        signals.load.set()
        await wait_for("M and L scaled up", lambda: _spec_replicas(cluster, ns, m) >= 1
                       and _spec_replicas(cluster, ns, lp) >= 1, 30)  # fmt: skip
        up_s = time.monotonic() - started
        peak = await wait_for(
            "M above one replica",
            lambda: (n := _spec_replicas(cluster, ns, m)) > 1 and n,
            30,
        )
        await wait_for(
            "M's pods Running", lambda: _running_pods(cluster, ns, "codecascade/tier=m") >= peak, 60
        )
        await wait_for("L's pods Running", lambda: _running_pods(cluster, ns, f"app={lp}") >= 1, 60)
        assert signals.answered and set(signals.answered) == {"L"}
        signals.load.clear()
        stopped = time.monotonic()
        await wait_for("M and L back at zero", lambda: _spec_replicas(cluster, ns, m) == 0
                       and _spec_replicas(cluster, ns, lp) == 0, 60)  # fmt: skip
        down_s = time.monotonic() - stopped
        await wait_for(
            "no M pod left", lambda: _running_pods(cluster, ns, "codecascade/tier=m") == 0, 60
        )
    print(f"direct: 0 -> >=1 in {up_s:.1f} s, peak {peak} replicas, -> 0 in {down_s:.1f} s")


async def test_keda_activates_a_tier_from_zero_through_our_scaler(
    cluster: Cluster, namespace: str, signals: Signals, tmp_path: Path
) -> None:
    ns = namespace
    name = "tier-l"
    cluster.apply(_deployment(name, ns))
    async with autoscaler_running(
        _settings(signals, mode="keda", scaled_tiers=["M", "L"]), tmp_path
    ) as port:
        cluster.apply(_scaled_object(name, ns, port))

        def ready() -> bool:
            so = cluster.get_json("scaledobject.keda.sh", name, "-n", ns)
            conditions = {
                c["type"]: c["status"] for c in so.get("status", {}).get("conditions", [])
            }
            return conditions.get("Ready") == "True"

        await wait_for("ScaledObject Ready", ready, 60)
        await asyncio.sleep(3)  # idle: KEDA keeps it at zero
        assert _spec_replicas(cluster, ns, name) == 0
        started = time.monotonic()
        signals.load.set()
        await wait_for("KEDA activates tier L", lambda: _spec_replicas(cluster, ns, name) >= 1, 60)
        up_s = time.monotonic() - started
        await wait_for(
            "tier L's pod Running", lambda: _running_pods(cluster, ns, f"app={name}") >= 1, 60
        )
        so = cluster.get_json("scaledobject.keda.sh", name, "-n", ns)
        conditions = {c["type"]: c["status"] for c in so["status"]["conditions"]}
        assert conditions.get("Active") == "True", so["status"]
        signals.load.clear()
        stopped = time.monotonic()
        await wait_for(
            "KEDA scales tier L back to zero", lambda: _spec_replicas(cluster, ns, name) == 0, 90
        )
        down_s = time.monotonic() - stopped
    print(f"keda: 0 -> 1 in {up_s:.1f} s after escalations started, -> 0 in {down_s:.1f} s")


# --- KEDA's 1 <-> N: its metrics API server in a network namespace of its own ---------------------

ADAPTER = ROOT / "build" / "cluster" / "bin" / "keda-adapter"
SCRIPT = ROOT / "scripts" / "cluster.sh"
KEDA_GRPC_OFFSET = 8  # scripts/cluster.sh: KEDA's metrics gRPC server at BASE+8


@dataclass
class MetricsApi:
    netns: str
    address: str  # the adapter's https address on the veth, as the API server dials it


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture
def keda_metrics_api(cluster: Cluster, tmp_path: Path) -> Iterator[MetricsApi]:
    """KEDA's metrics API server (cmd/adapter), registered as external.metrics.k8s.io.

    v2.21.0's adapter serves its own Prometheus metrics on ":8080", every interface, with no flag
    for the host (tests/cluster/README.md), so it runs in a network namespace of its own whose
    only links are its loopback and a veth to the host (10.x.y.2/30; the host end .1). The API
    server reaches it through an ExternalName Service naming the veth address; it reaches the API
    server and KEDA's operator gRPC server, which listen on the host's loopback only, through
    tests/cluster/nsforward.py (listeners on the namespace's 127.0.0.1, connections from the
    host's). Nothing listens on a host interface but loopback."""
    if os.geteuid() != 0 or (not Path("/usr/sbin/ip").exists() and not Path("/sbin/ip").exists()):
        pytest.skip("a network namespace and a veth need root and iproute2 (ip)")
    build = subprocess.run(
        ["bash", str(SCRIPT), "build", "keda-adapter"],
        capture_output=True, text=True, timeout=3600, check=False,
    )  # fmt: skip
    assert build.returncode == 0, f"scripts/cluster.sh build keda-adapter:\n{build.stderr[-4000:]}"
    api_port = int(cluster.api_url.rsplit(":", 1)[1])
    grpc_port = api_port + KEDA_GRPC_OFFSET
    tag = uuid.uuid4().hex[:6]
    netns, host_if, ns_if = f"cc-keda-{tag}", f"cck{tag}h", f"cck{tag}n"
    octet = int(tag[:2], 16) % 250 + 1
    host_ip, ns_ip = f"10.231.{octet}.1", f"10.231.{octet}.2"
    procs: list[subprocess.Popen[bytes]] = []
    logs = contextlib.ExitStack()
    _run("ip", "netns", "add", netns)
    try:
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _run("ip", "link", "set", ns_if, "netns", netns)
        _run("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        for args in (
            ("addr", "add", f"{ns_ip}/30", "dev", ns_if),
            ("link", "set", ns_if, "up"),
            ("link", "set", "lo", "up"),
        ):
            _run("ip", "netns", "exec", netns, "ip", *args)
        forward = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("nsforward.py")), netns,
             str(api_port), f"9666:{grpc_port}"],
            stdout=subprocess.PIPE,
            stderr=logs.enter_context((tmp_path / "nsforward.log").open("wb")),
        )  # fmt: skip
        procs.append(forward)
        assert forward.stdout is not None and forward.stdout.readline().strip() == b"ready"
        certs = cluster.run_dir / "keda-certs"
        kubeconfig = cluster.run_dir / "keda-operator.kubeconfig"  # server 127.0.0.1:<api_port>
        env = {
            "PATH": "/usr/bin:/bin",
            "KUBECONFIG": str(kubeconfig),
            "WATCH_NAMESPACE": "",
            "POD_NAMESPACE": "keda",
            "KEDA_CLUSTER_OBJECT_NAMESPACE": "keda",
        }
        adapter = subprocess.Popen(
            ["ip", "netns", "exec", netns, str(ADAPTER),
             "--secure-port=6443", f"--cert-dir={certs}",
             f"--tls-cert-file={certs / 'tls.crt'}", f"--tls-private-key-file={certs / 'tls.key'}",
             f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
             f"--authorization-kubeconfig={kubeconfig}", f"--lister-kubeconfig={kubeconfig}",
             "--metrics-service-address=127.0.0.1:9666", "--port=8080", "--zap-log-level=info"],
            env=env, stdout=logs.enter_context((tmp_path / "keda-adapter.log").open("wb")),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        procs.append(adapter)
        cluster.apply(f"""
apiVersion: v1
kind: Service
metadata: {{name: keda-metrics-apiserver, namespace: keda}}
spec:
  type: ExternalName
  externalName: {ns_ip}
  ports: [{{name: https, port: 6443, protocol: TCP}}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {{name: v1beta1.external.metrics.k8s.io}}
spec:
  group: external.metrics.k8s.io
  version: v1beta1
  service: {{name: keda-metrics-apiserver, namespace: keda, port: 6443}}
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 100
  versionPriority: 100
""")

        def available() -> bool:
            if adapter.poll() is not None:
                raise AssertionError(
                    "keda-adapter exited:\n"
                    + (tmp_path / "keda-adapter.log").read_text(errors="replace")[-3000:]
                )
            svc = cluster.get_json("apiservice", "v1beta1.external.metrics.k8s.io")
            return any(
                c["type"] == "Available" and c["status"] == "True"
                for c in svc.get("status", {}).get("conditions", [])
            )

        deadline = time.monotonic() + 120
        while not available():
            if time.monotonic() > deadline:
                raise AssertionError(
                    "external.metrics.k8s.io not Available:\n"
                    + json.dumps(
                        cluster.get_json("apiservice", "v1beta1.external.metrics.k8s.io")["status"]
                    )
                    + (tmp_path / "keda-adapter.log").read_text(errors="replace")[-3000:]
                )
            time.sleep(1)
        yield MetricsApi(netns, f"https://{ns_ip}:6443")
    finally:
        cluster.kubectl("delete", "apiservice", "v1beta1.external.metrics.k8s.io", check=False)
        cluster.kubectl("delete", "service", "keda-metrics-apiserver", "-n", "keda", check=False)
        for proc in reversed(procs):
            _stop(proc)
            if proc.stdout is not None:
                proc.stdout.close()
        logs.close()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)


async def test_keda_scales_a_tier_past_one_through_its_metrics_api(
    cluster: Cluster, namespace: str, signals: Signals, keda_metrics_api: MetricsApi, tmp_path: Path
) -> None:
    """0 -> 1 from IsActive, 1 -> N by KEDA's HPA from our GetMetrics (through KEDA's metrics API
    server and the aggregated external.metrics.k8s.io API), N -> 0 after escalations stop."""
    ns, name = namespace, "tier-l"
    cluster.apply(_deployment(name, ns))
    settings = _settings(signals, mode="keda", scaled_tiers=["M", "L"])
    async with autoscaler_running(settings, tmp_path) as port:
        # No HPA windows of its own: the autoscaler's count is already stabilised.
        no_windows = {
            "horizontalPodAutoscalerConfig": {
                "behavior": {
                    "scaleDown": {"stabilizationWindowSeconds": 0},
                    "scaleUp": {"stabilizationWindowSeconds": 0},
                }
            }
        }
        cluster.apply(_scaled_object(name, ns, port, advanced=no_windows))
        started = time.monotonic()
        signals.load.set()
        await wait_for("KEDA activates tier L", lambda: _spec_replicas(cluster, ns, name) >= 1, 60)
        peak = await wait_for(
            "KEDA's HPA takes tier L past one replica",
            lambda: (n := _spec_replicas(cluster, ns, name)) > 1 and n,
            90,
        )
        up_s = time.monotonic() - started
        hpa = cluster.get_json("hpa", f"keda-hpa-{name}", "-n", ns)
        metrics = hpa["status"].get("currentMetrics") or []
        assert metrics and metrics[0]["type"] == "External", hpa["status"]
        signals.load.clear()
        stopped = time.monotonic()
        await wait_for("tier L back at zero", lambda: _spec_replicas(cluster, ns, name) == 0, 120)
        down_s = time.monotonic() - stopped
    print(
        f"keda 1<->N: {peak} replicas {up_s:.1f} s after escalations started, "
        f"0 after {down_s:.1f} s"
    )
