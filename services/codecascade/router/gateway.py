"""One request through the router's public edge, whatever the protocol: the one implementation
behind the gRPC `CascadeService` and the OpenAI-compatible HTTP API.

Authenticate (the key names the tenant, `tenancy.edge`), pick the tenant's cascade (its own
policy file, or a named policy), cap its overrides (`max_tier`), admit it under its rate limits,
run the cascade with the tenant's budgets reserved before each tier call (`router.metering`),
release the slot, count the outcome. The protocol adapters (`servicer.py`, `openai/`) only read
the request, call this, and write the answer or the refusal in their own terms; no gRPC here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from opentelemetry import trace

from codecascade.core.errors import CascadeError, NotFound, Unavailable
from codecascade.core.task import Problem
from codecascade.mesh.context import CallIdentity, current_identity, set_identity
from codecascade.router.cascade import Cascade
from codecascade.router.events import CascadeResult, Observer
from codecascade.router.metering import TenantMeter, WorstCase
from codecascade.router.metrics import TenantMetrics
from codecascade.router.policy import (
    CascadePolicy,
    OverrideLimits,
    PolicyError,
    RequestOverrides,
    cap_max_tier,
)
from codecascade.tenancy.admission import Admission
from codecascade.tenancy.edge import Edge
from codecascade.tenancy.errors import LedgerUnavailable
from codecascade.tenancy.ledger import Ledger
from codecascade.tenancy.memory import MemoryStore
from codecascade.tenancy.ratelimit import RateLimiter, Slot
from codecascade.tenancy.tenants import Caller

__all__ = ["DEFAULT_MODEL", "Admitted", "Gateway", "log_failure", "open_edge"]

_log = logging.getLogger(__name__)

# The name the router's own policy is served under (the OpenAI API's `model`).
DEFAULT_MODEL = "cascade"


def open_edge() -> Edge:
    """The embedded default: no tenants file (auth off), spend recorded in process."""
    return Edge(None, Ledger(MemoryStore()), RateLimiter())


def log_failure(exc: CascadeError) -> None:
    """One log line for a failed request: its reason, tenant and trace id."""
    identity = current_identity()
    span = trace.get_current_span().get_span_context()
    _log.warning(
        "request failed: %s",
        exc,
        extra={
            "reason": exc.kind.value,
            "error": exc.__class__.__name__,
            "tenant": identity.tenant if identity else "",
            "trace_id": format(span.trace_id, "032x") if span.is_valid else "",
        },
    )


async def _released(slot: Slot) -> None:
    try:
        await slot.release()
    except LedgerUnavailable as exc:  # the lease expires with the request's deadline
        _log.error("in-flight slot left to expire: %s", exc)


class Admitted:
    """An admitted request: runs cascades for it, each tier metered on the tenant's budgets."""

    def __init__(self, gateway: Gateway, caller: Caller, slot: Slot) -> None:
        self._gateway, self._caller, self._slot = gateway, caller, slot

    async def run(
        self,
        cascade: Cascade,
        problem: Problem,
        overrides: RequestOverrides,
        *,
        seed: int | None,
        deadline_s: float,
        observer: Observer | None = None,
    ) -> CascadeResult:
        gateway, caller = self._gateway, self._caller
        return await cascade.run(
            problem,
            overrides,
            seed=seed,
            deadline_s=deadline_s,
            tenant=caller.tenant.id,
            observer=observer,
            gate=TenantMeter(
                gateway.edge.ledger, caller, gateway.worst, self._slot, gateway.admission
            ),
            allowed_tiers=caller.tenant.allowed_tiers,
        )


class Gateway:
    """Authentication, policy choice, admission, metering and counting for one request."""

    def __init__(
        self,
        cascade: Cascade,
        edge: Edge,
        worst: WorstCase | None = None,
        admission: Admission | None = None,
        metrics: TenantMetrics | None = None,
        *,
        policies: Mapping[str, CascadePolicy] | None = None,
    ) -> None:
        self.cascade = cascade
        self.edge = edge
        self.worst = worst if worst is not None else WorstCase({})
        self.admission = admission
        self._metrics = metrics
        self._named = {
            name: cascade.with_policy(policy) for name, policy in (policies or {}).items()
        }
        self._policies: dict[str, tuple[tuple[int, int], Cascade]] = {}

    @property
    def models(self) -> tuple[str, ...]:
        """The policies served, by name: the router's own first, then the named ones."""
        return (DEFAULT_MODEL, *sorted(self._named))

    def authenticate(
        self, authorization: str | None, claimed_tenant: str, *, client_cert: str = ""
    ) -> Caller:
        """The caller (raises Unauthenticated); binds its tenant for logs, spans and calls
        downstream: the key, not x-tenant-id, says who this is."""
        caller = self.edge.authenticate(authorization, claimed_tenant, client_cert=client_cert)
        identity = current_identity()
        if identity is not None and caller.tenant.id != identity.tenant:
            set_identity(CallIdentity(caller.tenant.id, identity.request_id))
        trace.get_current_span().set_attribute("codecascade.tenant", caller.tenant.id)
        return caller

    def cascade_for(self, caller: Caller, model: str = "") -> Cascade:
        """The cascade a call runs: a named policy (`model`), else the tenant's own policy file
        (reloaded when it changes; one that cannot be loaded refuses the tenant's calls, never
        falls back), else the router's."""
        if model and model != DEFAULT_MODEL:
            named = self._named.get(model)
            if named is None:
                raise NotFound(
                    f"the model {model!r} does not exist; this router serves {list(self.models)}"
                )
            return named
        path = caller.tenant.policy_file
        if not path:
            return self.cascade
        try:
            stat = Path(path).stat()
            version = (stat.st_ino, stat.st_mtime_ns)
            cached = self._policies.get(path)
            if cached is not None and cached[0] == version:
                return cached[1]
            policy = CascadePolicy.load(Path(path))
            policy.check_tiers(list(self.worst.prices))  # the configured (priced) tiers
        except (OSError, PolicyError) as exc:
            _log.error("tenant %s: policy file %s: %s", caller.tenant.id, path, exc)
            raise Unavailable(
                f"tenant {caller.tenant.id}'s policy file cannot be used; the operator must "
                "fix it (see the router's log)"
            ) from exc
        cascade = self.cascade.with_policy(policy)
        self._policies[path] = (version, cascade)
        return cascade

    async def run(
        self,
        caller: Caller,
        cascade: Cascade,
        problem: Problem,
        overrides: RequestOverrides,
        *,
        seed: int | None,
        deadline_s: Callable[[OverrideLimits], float],
        observer: Observer | None = None,
        capped: bool = False,
    ) -> CascadeResult:
        """Admits the call under the tenant's limits and runs `cascade` for it, each tier's
        worst case reserved on its budgets first. `deadline_s` gives the request's time from
        the policy's limits (the call's own deadline, capped, or the default). `capped`: the
        cascade's tiers were already chosen within the tenant's `max_tier`."""
        if not capped:
            overrides = self.capped(caller, cascade, overrides)
        seconds = deadline_s(cascade.policy.limits)
        async with self.admitted(caller, seconds) as admitted:
            return await admitted.run(
                cascade, problem, overrides, seed=seed, deadline_s=seconds, observer=observer
            )

    def capped(
        self, caller: Caller, cascade: Cascade, overrides: RequestOverrides
    ) -> RequestOverrides:
        """The overrides with `max_tier` no higher than the tenant's."""
        return cap_max_tier(
            cascade.policy, overrides, caller.tenant.max_tier, who=f"tenant {caller.tenant.id}"
        )

    @asynccontextmanager
    async def admitted(self, caller: Caller, seconds: float) -> AsyncIterator[Admitted]:
        """One request admitted under the tenant's rate and concurrency limits for at most
        `seconds`; it may run the cascade more than once (the OpenAI edge names a natural-
        language task's function with one greedy call first), as one request."""
        slot = await self.edge.admit(caller, hold_s=seconds)
        try:
            yield Admitted(self, caller, slot)
        finally:
            await _released(slot)
            await self._record_budgets(caller)

    @contextmanager
    def counted(self) -> Iterator[Callable[[float], None]]:
        """Counts the request once, by its tenant (as bound by then) and outcome; the block
        reports the request's cost through the callable it is given."""
        cost: list[float] = []
        try:
            yield cost.append
        except CascadeError as exc:
            self._count(exc.kind.value, 0.0)
            raise
        except Exception:
            self._count("internal", 0.0)
            raise
        self._count("ok", sum(cost))

    async def _record_budgets(self, caller: Caller) -> None:
        """The budget gauges after a request of a budgeted caller: one store read, so the
        near-exhaustion alert sees spend as it happens; a store that cannot be read leaves the
        gauges as they were (the request's outcome is already decided)."""
        if self._metrics is None or (
            caller.tenant.budget is None
            and (caller.organisation is None or caller.organisation.budget is None)
        ):
            return
        try:
            balances = await self.edge.ledger.balances(caller)
        except LedgerUnavailable as exc:
            _log.warning("budget gauges not updated: %s", exc)
            return
        self._metrics.record_balances(caller, balances)

    def _count(self, outcome: str, cost_usd: float) -> None:
        if self._metrics is None:
            return
        identity = current_identity()
        tenant = getattr(identity, "tenant", "") or "unauthenticated"
        if outcome == "unauthenticated" and self.edge.auth_enabled:
            tenant = "unauthenticated"  # a name the caller chose: not a label value
        self._metrics.record(tenant, outcome, cost_usd)
