"""The router's public TLS port (certificates made with openssl for the test), and client
certificates (mTLS) that name a tenant."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grpc
import pytest

from codecascade.cli.tenants import router_channel
from codecascade.mesh.server import running_server
from codecascade.mesh.settings import ConfigError, ServiceSettings
from codecascade.router.config import RouterSettings
from codecascade.router.metering import WorstCase
from codecascade.router.server import add_public_port
from codecascade.router.servicer import CascadeServicer
from codecascade.tenancy.admin import add_client_cert
from codecascade.tenancy.edge import Edge
from codecascade.tenancy.keys import cert_fingerprint
from codecascade.tenancy.ledger import Ledger
from codecascade.tenancy.memory import MemoryStore
from codecascade.tenancy.ratelimit import RateLimiter
from codecascade.tenancy.tenants import Tenant, TenantDirectory, read_tenants, write_tenants
from codecascade.v1 import cascade_service_pb2 as pb
from codecascade.v1 import cascade_service_pb2_grpc as pb_grpc
from tests.contract.router.edge_harness import PRICES, HeldTier, held_cascade, with_keys
from tests.unit.tenancy.helpers import write

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A CA, a server certificate for 127.0.0.1/localhost, and two client certificates."""
    d = tmp_path_factory.mktemp("pki")
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.pem", cwd=d,
    )  # fmt: skip
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=next-ca",
        "-keyout", "ca2.key", "-out", "ca2.pem", cwd=d,
    )  # fmt: skip
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ca, ext in (
        ("server", "ca", ["-extfile", "server.ext"]),
        ("server2", "ca2", ["-extfile", "server.ext"]),
        ("alice", "ca", []),
        ("stranger", "ca", []),
    ):
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", *ext, cwd=d,
        )  # fmt: skip
    return d


class _Service:
    service_names = ("codecascade.v1.CascadeService",)

    def __init__(self, servicer: CascadeServicer, settings: RouterSettings) -> None:
        self._servicer = servicer
        self._settings = settings
        self.tls_port: int | None = None

    def register(self, server: grpc.aio.Server) -> None:
        pb_grpc.add_CascadeServiceServicer_to_server(self._servicer, server)
        self.tls_port = add_public_port(server, self._settings)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def _settings(pki: Path, **extra) -> RouterSettings:
    return RouterSettings(
        testsynth_addr="x:1",
        sandbox_addr="x:1",
        policy_file=Path("unused.yaml"),
        tls_cert_file=pki / "server.pem",
        tls_key_file=pki / "server.key",
        tls_host="127.0.0.1",
        tls_port=0,
        **extra,
    )


async def _serve(tmp_path: Path, pki: Path, settings: RouterSettings):
    path = tmp_path / "tenants.yaml"
    (alice,), keys = with_keys([Tenant(id="alice")])
    write(path, alice)
    fingerprint = cert_fingerprint((pki / "alice.pem").read_text())
    write_tenants(path, add_client_cert(read_tenants(path), "alice", fingerprint))
    edge = Edge(TenantDirectory(path), Ledger(MemoryStore()), RateLimiter())
    servicer = CascadeServicer(held_cascade(HeldTier()), edge, WorstCase(PRICES))
    service = _Service(servicer, settings)
    return running_server(ServiceSettings(grpc_port=0), service), service, keys["alice"]


async def test_the_public_port_speaks_tls_and_a_key_authenticates(tmp_path, pki) -> None:
    server, service, key = await _serve(tmp_path, pki, _settings(pki))
    async with server:
        address = f"127.0.0.1:{service.tls_port}"
        async with router_channel(address, ca_file=str(pki / "ca.pem")) as channel:
            usage = await pb_grpc.CascadeServiceStub(channel).GetUsage(
                pb.GetUsageRequest(), metadata=(("authorization", f"Bearer {key}"),), timeout=30
            )
        assert usage.tenant_id == "alice"
        async with router_channel(address) as plain:  # no TLS: the handshake fails
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await pb_grpc.CascadeServiceStub(plain).GetUsage(pb.GetUsageRequest(), timeout=5)
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("client", "expected"), [("alice", "alice"), ("stranger", None), ("", "required")]
)
async def test_a_client_certificate_names_its_tenant(tmp_path, pki, client, expected) -> None:
    settings = _settings(pki, tls_client_ca_file=pki / "ca.pem")
    server, service, _ = await _serve(tmp_path, pki, settings)
    async with server:
        tls = {"ca_file": str(pki / "ca.pem")}
        if client:
            tls |= {"cert_file": str(pki / f"{client}.pem"), "key_file": str(pki / f"{client}.key")}
        async with router_channel(f"127.0.0.1:{service.tls_port}", **tls) as channel:
            call = pb_grpc.CascadeServiceStub(channel).GetUsage(pb.GetUsageRequest(), timeout=10)
            if expected == "alice":
                assert (await call).tenant_id == "alice"  # no key: the certificate says who
                return
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call
    if expected is None:
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert "names no tenant" in (refused.value.details() or "")
    else:  # no client certificate where one is required: the handshake fails
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_tls_settings_are_checked_at_start(tmp_path, pki) -> None:
    with pytest.raises(ConfigError, match="TLS_CERT_FILE and TLS_KEY_FILE go together"):
        RouterSettings.load(
            testsynth_addr="x:1",
            sandbox_addr="x:1",
            policy_file="p.yaml",
            tls_cert_file=str(pki / "server.pem"),
        )
    with pytest.raises(ConfigError, match=r"client certificates \(mTLS\) need TLS_CERT_FILE"):
        RouterSettings.load(
            testsynth_addr="x:1",
            sandbox_addr="x:1",
            policy_file="p.yaml",
            tls_client_ca_file=str(pki / "ca.pem"),
        )
    server = grpc.aio.server()
    missing = _settings(pki).model_copy(update={"tls_key_file": tmp_path / "nope.key"})
    with pytest.raises(ConfigError, match=r"TLS_KEY_FILE .*nope\.key: cannot read"):
        add_public_port(server, missing)


async def test_a_rotated_certificate_is_used_without_a_restart(tmp_path, pki) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"

    def install(cert_from: str, key_from: str) -> None:
        for target, source in ((cert, cert_from), (key, key_from)):
            staged = target.with_suffix(".new")
            shutil.copy(pki / source, staged)
            staged.replace(target)  # as the kubelet swaps a mounted Secret

    install("server.pem", "server.key")
    settings = _settings(pki).model_copy(update={"tls_cert_file": cert, "tls_key_file": key})
    server, service, token = await _serve(tmp_path, pki, settings)

    async def usage(ca: str) -> str:
        address = f"127.0.0.1:{service.tls_port}"
        async with router_channel(address, ca_file=str(pki / ca)) as channel:
            reply = await pb_grpc.CascadeServiceStub(channel).GetUsage(
                pb.GetUsageRequest(), metadata=(("authorization", f"Bearer {token}"),), timeout=10
            )
        return reply.tenant_id

    async with server:
        assert await usage("ca.pem") == "alice"
        install("server2.pem", "server2.key")
        assert await usage("ca2.pem") == "alice"  # the next connection gets the new certificate
        with pytest.raises(grpc.aio.AioRpcError):
            await usage("ca.pem")
        install("server.pem", "server2.key")  # a key that does not match: not taken
        assert await usage("ca2.pem") == "alice"
