"""Wiring for the router: policy, tier clients, test synthesis and sandbox channels, servicer."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import grpc
from opentelemetry.trace import TracerProvider
from prometheus_client import CollectorRegistry

from codecascade.core.errors import Unavailable
from codecascade.mesh.channels import open_channel
from codecascade.mesh.health import is_serving
from codecascade.mesh.settings import ConfigError
from codecascade.router.adapters import SandboxMatrixRunner, SynthesisAssertWriter
from codecascade.router.cascade import Cascade
from codecascade.router.config import RouterSettings
from codecascade.router.gateway import Gateway
from codecascade.router.metering import WorstCase
from codecascade.router.metrics import RouterMetrics, TenantMetrics
from codecascade.router.openai.app import build_app
from codecascade.router.openai.server import HttpServer
from codecascade.router.policy import CascadePolicy
from codecascade.router.servicer import CascadeServicer
from codecascade.router.solutions import TierSolutionWriter
from codecascade.tenancy.admission import Admission, AdmissionLimits
from codecascade.tenancy.edge import OPEN_WARNING, Edge
from codecascade.tenancy.ledger import Ledger, LedgerStore
from codecascade.tenancy.memory import MemoryStore
from codecascade.tenancy.ratelimit import RateGate, RateLimiter
from codecascade.tenancy.redis_limits import RedisRateLimiter
from codecascade.tenancy.redis_store import RedisStore
from codecascade.tenancy.tenants import TenantDirectory
from codecascade.tierclient.registry import TierRegistry
from codecascade.v1 import cascade_service_pb2, cascade_service_pb2_grpc

__all__ = ["RouterService", "add_public_port", "build_edge"]

_log = logging.getLogger(__name__)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read: {exc.strerror}") from exc


class _CertificateFiles:
    """The public port's TLS files, re-read when they change: a rotated certificate (cert-manager
    renewing the Secret, the kubelet swapping the mounted files) takes effect on the next
    connection without a restart. A new key and certificate that do not match are not taken."""

    def __init__(self, cert: Path, key: Path, client_ca: Path | None) -> None:
        self._cert, self._key, self._client_ca = cert, key, client_ca
        self._signature = self._stat()
        self._refused: tuple[tuple[int, int, int], ...] | None = None
        self.current = self._load()

    def _stat(self) -> tuple[tuple[int, int, int], ...] | None:
        paths = [p for p in (self._cert, self._key, self._client_ca) if p is not None]
        try:
            return tuple(
                (st.st_ino, st.st_size, st.st_mtime_ns) for st in (p.stat() for p in paths)
            )
        except OSError:
            return None

    def _load(self) -> grpc.ServerCertificateConfiguration:
        key = _read(self._key, "TLS_KEY_FILE")
        chain = _read(self._cert, "TLS_CERT_FILE")
        client_ca = (
            _read(self._client_ca, "TLS_CLIENT_CA_FILE") if self._client_ca is not None else None
        )
        # Raises ssl.SSLError when the key does not belong to the certificate.
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(self._cert, self._key)
        return grpc.ssl_server_certificate_configuration(
            [(key, chain)], root_certificates=client_ca
        )

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """Called by gRPC before each handshake: a new configuration when the files changed."""
        signature = self._stat()
        if signature is None or signature in (self._signature, self._refused):
            return None
        try:
            configuration = self._load()
        except (OSError, ssl.SSLError, ConfigError) as exc:
            self._refused = signature  # said once, tried again when the files change again
            _log.error("TLS files changed but cannot be used; keeping the old ones: %s", exc)
            return None
        self._signature = signature
        _log.info("TLS certificate reloaded", extra={"cert": str(self._cert)})
        return configuration


def add_public_port(server: grpc.aio.Server, settings: RouterSettings) -> int | None:
    """Adds the public TLS port when the settings name a certificate; returns its port, None
    without TLS. The files are re-read when they change (rotation needs no restart). With a
    client CA, every client must present a certificate it verifies (gRPC has no optional client
    certificates); a registered one names its tenant when the call carries no key. The plain
    port stays for probes and the mesh (kubelet gRPC probes speak no TLS): bind it privately."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    try:
        files = _CertificateFiles(
            settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
        )
    except ssl.SSLError as exc:
        raise ConfigError(f"TLS_KEY_FILE does not match TLS_CERT_FILE: {exc}") from exc
    credentials = grpc.dynamic_ssl_server_credentials(
        files.current,
        # None means "no change" (grpc's documentation); the type stub leaves None out.
        cast(Callable[[], grpc.ServerCertificateConfiguration], files.fetch),
        require_client_authentication=settings.tls_client_ca_file is not None,
    )
    address = f"{settings.tls_host}:{settings.tls_port}"
    port = server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"cannot listen on {address} (TLS)")
    mtls = settings.tls_client_ca_file is not None
    _log.info("public TLS port", extra={"address": address, "mtls": mtls})
    return port


def build_edge(settings: RouterSettings) -> Edge:
    """The public edge the settings describe: the tenants file (or auth off) and the store."""
    store: LedgerStore
    limiter: RateGate
    if settings.ledger_store == "redis":
        store = RedisStore(
            settings.redis_url,
            password=settings.redis_password or None,
            timeout_s=settings.redis_timeout_s,
        )
        limiter = RedisRateLimiter(
            settings.redis_url,
            password=settings.redis_password or None,
            timeout_s=settings.redis_timeout_s,
        )
    else:
        store, limiter = MemoryStore(), RateLimiter()
    directory = TenantDirectory(settings.tenants_file) if settings.tenants_file else None
    return Edge(directory, Ledger(store), limiter)


class RouterService:
    """The router as a `codecascade.mesh.server.Service`: SERVING once its peers are."""

    def __init__(
        self,
        settings: RouterSettings,
        policy: CascadePolicy,
        tiers: TierRegistry,
        *,
        registry: CollectorRegistry | None = None,
        tracer_provider: TracerProvider | None = None,
        edge: Edge | None = None,
    ) -> None:
        policy.check_tiers(tiers.names)
        self._settings = settings
        self._tiers = tiers
        self.edge = edge if edge is not None else build_edge(settings)
        self.tls_port: int | None = None
        self._tenant_metrics = TenantMetrics.create(registry) if registry is not None else None
        prices = {}
        for name in tiers.names:
            spec = tiers.config(name)
            if spec is not None:
                prices[name] = spec.price_per_1k_tokens
        self.admission = Admission(
            {
                tier: AdmissionLimits(
                    slots, settings.admission_max_queue, settings.admission_max_wait_s
                )
                for tier, slots in settings.admission_slots.items()
            }
        )
        self._worst = WorstCase(
            prices,
            test_tokens_overhead=settings.test_tokens_overhead,
            test_tokens_per_line=settings.test_tokens_per_line,
        )
        self._testsynth = open_channel(settings.testsynth_addr, options=settings.channel_options())
        self._sandbox = open_channel(settings.sandbox_addr, options=settings.channel_options())
        self.cascade = Cascade(
            policy,
            TierSolutionWriter(tiers),
            SynthesisAssertWriter(
                self._testsynth, max_tests=settings.max_tests, tracer_provider=tracer_provider
            ),
            SandboxMatrixRunner(self._sandbox, test_timeout_s=settings.sandbox_test_timeout_s),
            observers=(
                (RouterMetrics.create(registry, tiers.names).observe,)
                if registry is not None
                else ()
            ),
            tracer_provider=tracer_provider,
        )
        named = {}
        for name, path in settings.policies.items():
            named[name] = CascadePolicy.load(path)
            named[name].check_tiers(tiers.names)
        self.gateway = Gateway(
            self.cascade,
            self.edge,
            self._worst,
            self.admission,
            self._tenant_metrics,
            policies=named,
        )
        self.http = (
            HttpServer(
                build_app(self.gateway, tracer_provider=tracer_provider),
                settings.http_host,
                settings.http_port,
                grace_s=settings.shutdown_grace_s,
            )
            if settings.http_enabled
            else None
        )

    @property
    def service_names(self) -> Sequence[str]:
        return (cascade_service_pb2.DESCRIPTOR.services_by_name["CascadeService"].full_name,)

    def register(self, server: grpc.aio.Server) -> None:
        cascade_service_pb2_grpc.add_CascadeServiceServicer_to_server(
            CascadeServicer(self.cascade, gateway=self.gateway),
            server,
        )
        self.tls_port = add_public_port(server, self._settings)

    async def start(self) -> None:
        """Waits until test synthesis and the sandbox are SERVING (tiers may scale from zero)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.dependency_wait_s
        for name, channel in (("testsynth", self._testsynth), ("sandbox", self._sandbox)):
            while not await is_serving(channel, timeout_s=2.0):
                if loop.time() > deadline:
                    raise Unavailable(f"{name} did not become SERVING; check its address and logs")
                await asyncio.sleep(0.5)
        store = self.edge.ledger.store
        if isinstance(store, RedisStore):
            await store.ping()  # fail at start, loudly, rather than on every request
        if not self.edge.auth_enabled:
            _log.warning(OPEN_WARNING)
        if self.http is not None:
            await self.http.start()
        _log.info("dependencies ready", extra={"tiers": list(self._tiers.names)})

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.stop()
        await self._testsynth.close()
        await self._sandbox.close()
        await self._tiers.close()
        await self.edge.ledger.store.close()
        if isinstance(self.edge.limiter, RedisRateLimiter):
            await self.edge.limiter.close()
