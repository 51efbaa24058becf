"""The tenants file: tenants, their keys (as hashes), budgets, limits and organisations.

One YAML file with a schema (`TenantsFile.model_json_schema()`), written by `cascade tenants` and
read by the router's edge, which reloads it when it changes (a `stat` per call: a changed inode,
size or mtime reloads it; a broken new file is refused and the last good one kept, loudly).
Writers replace the file atomically (write a sibling, then rename), so a reader never sees half.

    version: 1
    organisations:
      - id: acme
        budget: {period: month, usd: 100.0}
    tenants:
      - id: team-a
        organisation: acme
        budget: {period: day, usd: 5.0, lifetime_usd: 200.0}
        on_budget_exhausted: degrade      # or refuse (the default)
        rate_limits: {requests_per_min: 60, tokens_per_min: 200000, concurrent_requests: 4}
        weight: 2.0
        allowed_tiers: [S, M]             # empty: every tier
        keys:
          - {id: key-1a2b3c4d, sha256: "...", created: 2026-12-01T10:00:00Z}
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from codecascade.core.errors import Unauthenticated
from codecascade.tenancy.errors import TenantsFileError
from codecascade.tenancy.keys import hash_key

__all__ = [
    "ApiKey",
    "Budget",
    "Caller",
    "Organisation",
    "RateLimits",
    "Tenant",
    "TenantDirectory",
    "TenantsFile",
    "read_tenants",
    "write_tenants",
]

_log = logging.getLogger(__name__)

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"  # the same rule as x-tenant-id
Period = Literal["day", "month"]


class Budget(BaseModel):
    """Dollars per UTC day or month, and an optional cap over all time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    period: Period = Field(default="month", description="The budget renews each UTC day or month.")
    usd: float = Field(ge=0, description="Dollars per period.")
    lifetime_usd: float | None = Field(
        default=None, ge=0, description="A hard cap over all periods; null: none."
    )


class RateLimits(BaseModel):
    """Per-tenant limits on one router replica; null: unlimited."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_min: float | None = Field(default=None, gt=0, description="Requests per minute.")
    tokens_per_min: float | None = Field(
        default=None, gt=0, description="Generated tokens per minute."
    )
    concurrent_requests: int | None = Field(
        default=None, ge=1, description="Requests in flight at once."
    )


class ApiKey(BaseModel):
    """One key of a tenant, by its hash; revoked keys stay listed (with when)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=ID_PATTERN, description="Public name of the key.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Hex sha256 of the key.")
    created: datetime = Field(description="When the key was made (UTC).")
    revoked: datetime | None = Field(default=None, description="When it was revoked; null: live.")


class Organisation(BaseModel):
    """An organisation: its budget caps the spend of all its tenants together."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=ID_PATTERN, description="Organisation id.")
    budget: Budget | None = Field(default=None, description="Cap over its tenants; null: none.")


class Tenant(BaseModel):
    """A tenant: what its keys may do and spend."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=ID_PATTERN, description="Tenant id (logs, spans, metrics).")
    organisation: str = Field(default="", description="Organisation id; empty: none.")
    admin: bool = Field(default=False, description="May read any tenant's usage.")
    budget: Budget | None = Field(default=None, description="Spend limits; null: unmetered.")
    on_budget_exhausted: Literal["refuse", "degrade"] = Field(
        default="refuse",
        description="refuse: RESOURCE_EXHAUSTED; degrade: the most capable tier it can afford.",
    )
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    weight: float = Field(default=1.0, gt=0, description="Share of the tiers under contention.")
    allowed_tiers: tuple[str, ...] = Field(default=(), description="Tiers it may use; empty: all.")
    max_tier: str = Field(default="", description="Highest tier it may reach; empty: any.")
    policy_file: str = Field(
        default="",
        description="Its own cascade policy file (docs/policy.md), e.g. a budget point of the "
        "calibrated Pareto front; empty: the router's policy.",
    )
    keys: tuple[ApiKey, ...] = Field(default=(), description="Its API keys, as hashes.")
    client_certs: tuple[str, ...] = Field(
        default=(),
        description="sha256 fingerprints (hex) of client certificates (mTLS) that name it.",
    )


class TenantsFile(BaseModel):
    """The whole tenants file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = Field(default=1, description="Schema version of this file.")
    organisations: tuple[Organisation, ...] = Field(default=())
    tenants: tuple[Tenant, ...] = Field(default=())

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        orgs = [o.id for o in self.organisations]
        if len(set(orgs)) != len(orgs):
            raise ValueError(f"an organisation id appears twice: {orgs}")
        ids = [t.id for t in self.tenants]
        if len(set(ids)) != len(ids):
            raise ValueError(f"a tenant id appears twice: {ids}")
        hashes: set[str] = set()
        key_ids: set[str] = set()
        for tenant in self.tenants:
            if tenant.organisation and tenant.organisation not in orgs:
                raise ValueError(
                    f"tenant {tenant.id}: organisation {tenant.organisation!r} is not listed"
                )
            for key in tenant.keys:
                if key.sha256 in hashes or key.id in key_ids:
                    raise ValueError(f"tenant {tenant.id}: key {key.id} appears twice")
                hashes.add(key.sha256)
                key_ids.add(key.id)
        certs = [c for t in self.tenants for c in t.client_certs]
        if len(set(certs)) != len(certs):
            raise ValueError("a client certificate names two tenants")
        return self

    def tenant(self, tenant_id: str) -> Tenant | None:
        return next((t for t in self.tenants if t.id == tenant_id), None)

    def organisation(self, org_id: str) -> Organisation | None:
        return next((o for o in self.organisations if o.id == org_id), None)

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "tenants file") -> TenantsFile:
        try:
            document = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise TenantsFileError(f"{source}: not valid YAML: {exc}") from exc
        try:
            return cls.model_validate(document)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
            )
            raise TenantsFileError(f"{source}: {problems}") from exc

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=False), sort_keys=False)


def read_tenants(path: Path) -> TenantsFile:
    """The tenants file at `path` (an absent file is an empty one: no tenants yet)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return TenantsFile()
    except OSError as exc:
        raise TenantsFileError(f"{path}: cannot read: {exc.strerror}") from exc
    return TenantsFile.from_yaml(text, source=str(path))


def write_tenants(path: Path, tenants: TenantsFile) -> None:
    """Replaces the file atomically (a sibling written, synced, then renamed over it), 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(tenants.to_yaml())
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a call is for, as its key says."""

    tenant: Tenant
    organisation: Organisation | None
    key_id: str


@dataclass(frozen=True, slots=True)
class _Snapshot:
    signature: tuple[int, int, int, int] | None
    tenants: TenantsFile
    by_hash: dict[str, tuple[Tenant, ApiKey]]
    by_cert: dict[str, Tenant]


def _index(tenants: TenantsFile) -> dict[str, tuple[Tenant, ApiKey]]:
    return {key.sha256: (tenant, key) for tenant in tenants.tenants for key in tenant.keys}


class TenantDirectory:
    """The tenants file as the edge reads it: reloaded when it changes, no restart needed.

    `refresh()` costs one `stat` and reloads when the file's inode, device, size or mtime
    changed; the edge calls it on every authentication, tests call it directly. A new file that
    fails to load keeps the last good one in force (and logs why); a file that was never good
    refuses every key.
    """

    def __init__(self, path: Path, *, stat: Callable[[Path], os.stat_result] = os.stat) -> None:
        self.path = path
        self._stat = stat
        self._snapshot = _Snapshot(None, TenantsFile(), {}, {})
        self.last_error = ""
        self.refresh()

    def _signature(self) -> tuple[int, int, int, int] | None:
        try:
            st = self._stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)

    def refresh(self) -> bool:
        """Reloads the file if it changed; True when a new version took effect."""
        signature = self._signature()
        if signature == self._snapshot.signature:
            return False
        try:
            tenants = read_tenants(self.path)
        except TenantsFileError as exc:
            if self.last_error != str(exc):
                _log.error("tenants file not reloaded, keeping the last good one: %s", exc)
            self.last_error = str(exc)
            return False
        self.last_error = ""
        by_cert = {c: t for t in tenants.tenants for c in t.client_certs}
        self._snapshot = _Snapshot(signature, tenants, _index(tenants), by_cert)
        _log.info("tenants file loaded", extra={"tenants": len(tenants.tenants)})
        return True

    @property
    def tenants(self) -> TenantsFile:
        return self._snapshot.tenants

    def _caller(self, tenant: Tenant, key_id: str) -> Caller:
        organisation = (
            self._snapshot.tenants.organisation(tenant.organisation)
            if tenant.organisation
            else None
        )
        return Caller(tenant, organisation, key_id)

    def authenticate(self, key: str | None, *, client_cert: str = "") -> Caller:
        """The caller a key belongs to (or, without a key, the client certificate with this
        sha256 fingerprint); raises Unauthenticated saying what to fix."""
        self.refresh()
        if key is None and client_cert:
            tenant = self._snapshot.by_cert.get(client_cert)
            if tenant is None:
                raise Unauthenticated(
                    f"the client certificate (sha256 {client_cert[:16]}...) names no tenant: "
                    "send 'authorization: Bearer <key>', or ask an operator to register it "
                    "(`cascade tenants cert`)"
                )
            return self._caller(tenant, f"cert:{client_cert[:16]}")
        if key is None:
            raise Unauthenticated(
                "missing or malformed credentials: send metadata 'authorization: Bearer <key>' "
                "with the API key from `cascade tenants add`"
            )
        found = self._snapshot.by_hash.get(hash_key(key))
        if found is None:
            raise Unauthenticated(
                "unknown API key: check the key, or ask an operator for one (`cascade tenants add`)"
            )
        tenant, record = found
        if record.revoked is not None:
            raise Unauthenticated(
                f"API key {record.id} was revoked on {record.revoked:%Y-%m-%d %H:%M} UTC: "
                "ask an operator for a new one"
            )
        return self._caller(tenant, record.id)
