"""The deadline, retry and pricing every protocol client shares (`RetryingTierClient`)."""

from __future__ import annotations

import asyncio

import pytest

from codecascade.core.errors import InvalidInput
from codecascade.core.sampling import PromptFormat, SamplingParams
from codecascade.core.tiers import TierSpec
from codecascade.core.usage import token_cost
from codecascade.tierclient.base import Parsed, RetryingTierClient
from codecascade.tierclient.connect import connect_registry
from codecascade.tierclient.errors import TierDeadlineExceeded, TierUnavailable

SPEC = TierSpec(
    name="M",
    address="tier.test:1",
    model="m",
    price_per_1k_tokens=0.5,
    max_attempts=3,
    backoff_initial_s=0.001,
    backoff_max_s=0.002,
)


class _Scripted(RetryingTierClient[str]):
    """Answers each attempt from a script: an exception to raise, or a text to return."""

    def __init__(self, spec: TierSpec, script: list[str | Exception]) -> None:
        super().__init__(spec)
        self.script = script
        self.lefts: list[float] = []
        self.hang = asyncio.Event()

    async def _send(
        self, prompt: str, params: SamplingParams, prompt_format: PromptFormat | None, left: float
    ) -> str:
        self.lefts.append(left)
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        if step == "hang":
            await self.hang.wait()  # never set: only the deadline ends this attempt
        return step

    def _parse(self, reply: str, prompt_format: PromptFormat | None) -> Parsed:
        return Parsed((reply,), ("stop",), 3, 40, (40,))


async def test_retries_unavailable_and_prices_with_the_one_formula() -> None:
    client = _Scripted(SPEC, [TierUnavailable("reset"), "ok"])
    result = await client.generate("p", SamplingParams(), timeout_s=5.0)
    assert (result.texts, result.attempts, result.tier, result.model) == (("ok",), 2, "M", "m")
    assert result.cost_usd == token_cost(40, 0.5)
    assert result.usage.completion_tokens == 40 and result.tokens_per_sample() == (40,)
    assert all(0 < left <= 5.0 for left in client.lefts)


async def test_a_silent_tier_ends_at_the_deadline() -> None:
    client = _Scripted(SPEC, ["hang"])
    with pytest.raises(TierDeadlineExceeded, match="tier M"):
        await client.generate("p", SamplingParams(), timeout_s=0.05)


async def test_the_spec_timeout_is_the_default_deadline() -> None:
    client = _Scripted(SPEC.model_copy(update={"timeout_s": 7.0}), ["ok"])
    await client.generate("p", SamplingParams())
    assert 0 < client.lefts[0] <= 7.0


def test_a_tier_without_an_address_is_not_connected() -> None:
    with pytest.raises(InvalidInput, match="no address"):
        connect_registry([SPEC.model_copy(update={"address": ""})])
