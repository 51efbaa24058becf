"""Who a call is for: the tenant id and request id every call carries in gRPC metadata.

They live in context variables so logs and spans pick them up without threading them through
every function signature; the server interceptor sets them, the client interceptor forwards them.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Iterable

from codecascade.core.errors import InvalidInput

__all__ = [
    "DEFAULT_TENANT",
    "REQUEST_ID_KEY",
    "TENANT_KEY",
    "CallIdentity",
    "current_identity",
    "identity_from_metadata",
    "set_identity",
]

TENANT_KEY = "x-tenant-id"
REQUEST_ID_KEY = "x-request-id"
DEFAULT_TENANT = "default"
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class CallIdentity:
    """The tenant and request a call belongs to; immutable once made."""

    __slots__ = ("request_id", "tenant")

    def __init__(self, tenant: str, request_id: str) -> None:
        self.tenant = tenant
        self.request_id = request_id

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The metadata that forwards this identity on an outgoing call."""
        return ((TENANT_KEY, self.tenant), (REQUEST_ID_KEY, self.request_id))

    def __repr__(self) -> str:
        return f"CallIdentity(tenant={self.tenant!r}, request_id={self.request_id!r})"


_identity: contextvars.ContextVar[CallIdentity | None] = contextvars.ContextVar(
    "codecascade_identity", default=None
)


def _validated(key: str, value: str) -> str:
    if not _ID_PATTERN.match(value):
        raise InvalidInput(
            f"metadata '{key}' must be 1-128 characters of letters, digits, '.', '_', ':' or '-' "
            f"starting with a letter or digit; got {value[:40]!r}"
        )
    return value


def identity_from_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> CallIdentity:
    """Reads tenant and request id from call metadata; a missing request id gets a fresh one."""
    values = {k.lower(): v for k, v in (metadata or ()) if isinstance(v, str)}
    tenant = values.get(TENANT_KEY) or DEFAULT_TENANT
    request_id = values.get(REQUEST_ID_KEY) or uuid.uuid4().hex
    return CallIdentity(_validated(TENANT_KEY, tenant), _validated(REQUEST_ID_KEY, request_id))


def current_identity() -> CallIdentity | None:
    """The identity of the call being served in this task, if any."""
    return _identity.get()


def set_identity(identity: CallIdentity | None) -> contextvars.Token[CallIdentity | None]:
    """Binds an identity to the current context; reset with the returned token."""
    return _identity.set(identity)
