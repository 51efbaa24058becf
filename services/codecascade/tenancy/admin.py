"""Edits of the tenants file that `cascade tenants` makes: add a key, revoke one, set budgets.

Each takes the file as it is and returns the new one (the caller writes it atomically); the
new key itself is returned once and never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from codecascade.core.errors import NotFound
from codecascade.tenancy.errors import TenantsFileError
from codecascade.tenancy.keys import hash_key, new_key, new_key_id
from codecascade.tenancy.tenants import ApiKey, Organisation, Tenant, TenantsFile

__all__ = ["add_client_cert", "add_key", "revoke_key", "set_organisation"]


def _validated(document: dict[str, Any]) -> TenantsFile:
    try:
        return TenantsFile.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
        )
        raise TenantsFileError(problems) from exc


def add_key(
    tenants: TenantsFile,
    tenant_id: str,
    *,
    now: datetime,
    settings: Mapping[str, Any] | None = None,
) -> tuple[TenantsFile, str, str]:
    """A new key for `tenant_id` (made with `settings` when it is new, which update it when it
    exists; a named organisation is added when missing). Returns the file, the key, its id."""
    key = new_key()
    record = ApiKey(id=new_key_id(), sha256=hash_key(key), created=now)
    document = tenants.model_dump(mode="json")
    fields = dict(settings or {})
    org = fields.get("organisation")
    if org and tenants.organisation(org) is None:
        document["organisations"].append(Organisation(id=org).model_dump(mode="json"))
    existing = next((t for t in document["tenants"] if t["id"] == tenant_id), None)
    if existing is None:
        existing = Tenant(id=tenant_id).model_dump(mode="json")
        document["tenants"].append(existing)
    existing.update(fields)
    existing["keys"] = [*existing["keys"], record.model_dump(mode="json")]
    return _validated(document), key, record.id


def revoke_key(tenants: TenantsFile, key_id: str, *, now: datetime) -> tuple[TenantsFile, str]:
    """Marks the key revoked (it stays listed); returns the file and the key's tenant."""
    document = tenants.model_dump(mode="json")
    for tenant in document["tenants"]:
        for key in tenant["keys"]:
            if key["id"] == key_id:
                if key["revoked"] is None:
                    key["revoked"] = now.isoformat()
                return _validated(document), str(tenant["id"])
    raise NotFound(f"no key {key_id!r} in the tenants file (see `cascade tenants list`)")


def set_organisation(
    tenants: TenantsFile, org_id: str, budget: Mapping[str, Any] | None
) -> TenantsFile:
    """Adds the organisation, or sets its budget (None: no cap)."""
    document = tenants.model_dump(mode="json")
    entry = {"id": org_id, "budget": dict(budget) if budget is not None else None}
    orgs = [o for o in document["organisations"] if o["id"] != org_id]
    document["organisations"] = [*orgs, entry]
    return _validated(document)


def add_client_cert(tenants: TenantsFile, tenant_id: str, fingerprint: str) -> TenantsFile:
    """Lets the client certificate with this sha256 fingerprint name the tenant (mTLS)."""
    document = tenants.model_dump(mode="json")
    tenant = next((t for t in document["tenants"] if t["id"] == tenant_id), None)
    if tenant is None:
        raise NotFound(f"no tenant {tenant_id!r} in the tenants file (`cascade tenants add`)")
    if fingerprint not in tenant["client_certs"]:
        tenant["client_certs"] = [*tenant["client_certs"], fingerprint]
    return _validated(document)
