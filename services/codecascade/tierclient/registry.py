"""The configured tiers as clients: what the router and test synthesis both call.

Each tier is a `codecascade.core.tiers.TierSpec` (where it is, what it costs, chat or raw
prompts); the list lives in the YAML settings file under `tiers:` (or the TIERS environment
variable, as JSON) and in the Helm values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from codecascade.core.tiers import TierSpec
from codecascade.tierclient.client import TierClient

__all__ = ["TierRegistry"]


class TierRegistry:
    """Clients for the configured tiers, opened once and shared by every request.

    A plain container: domain code (the cascade, test synthesis) holds one without importing
    any protocol library; `connect.connect_registry` opens the real clients in the wiring.
    """

    def __init__(self, specs: Sequence[TierSpec], clients: Mapping[str, TierClient]) -> None:
        self._specs = {s.name: s for s in specs}
        self._clients = dict(clients)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def config(self, name: str) -> TierSpec | None:
        return self._specs.get(name)

    def client(self, name: str) -> TierClient | None:
        return self._clients.get(name)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
