"""Test doubles shared by several test modules (never used by product code)."""

from __future__ import annotations

from codecascade.core.sampling import SamplingParams
from codecascade.core.tiers import TierSpec
from codecascade.tierclient.client import TierResult
from codecascade.tierclient.registry import TierRegistry

HUMANEVAL_INC = 'def inc(x: int) -> int:\n    """Return x + 1.\n    >>> inc(1)\n    2\n    """\n'


class ScriptedTier:
    """A TierClient test double that returns canned texts and records the call."""

    def __init__(self, texts: tuple[str, ...]) -> None:
        self.texts = texts
        self.calls: list[tuple[str, SamplingParams, str | None]] = []

    @property
    def spec(self) -> TierSpec:
        return TierSpec(name="S", address="x:1", model="m", price_per_1k_tokens=1.0)

    async def generate(self, prompt, params, *, timeout_s=None, prompt_format=None) -> TierResult:
        self.calls.append((prompt, params, prompt_format))
        return TierResult("S", "m", self.texts, ("stop",) * len(self.texts), 10, 20, 0.02, 0.1, 1)

    async def ready(self, *, timeout_s: float = 5.0) -> bool:
        return True

    async def close(self) -> None:
        return None


def scripted_registry(tier: ScriptedTier, prompt_format: str = "chat") -> TierRegistry:
    config = TierSpec(
        name="S", address="x:1", model="m", price_per_1k_tokens=1.0, prompt_format=prompt_format
    )
    return TierRegistry([config], {"S": tier})
