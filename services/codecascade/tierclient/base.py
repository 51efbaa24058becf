"""What every protocol client does the same way: deadline, retries, pricing the result.

A concrete client says only how one attempt is sent (`_send`), how its reply becomes texts and
token counts (`_parse`), and how readiness is asked. The deadline arithmetic, the local
`asyncio.timeout` that keeps a silent server from holding the caller past its deadline, the
retry policy taken from the tier's spec, and the cost (the one formula in `core.usage`) are
written here once, so the OIP and OpenAI clients cannot drift apart on them.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from codecascade.core.sampling import PromptFormat, SamplingParams
from codecascade.core.tiers import TierSpec
from codecascade.core.usage import Usage
from codecascade.tierclient.client import TierResult
from codecascade.tierclient.errors import TierDeadlineExceeded
from codecascade.tierclient.retry import RetryPolicy, call_with_retry

__all__ = ["Parsed", "RetryingTierClient"]

Reply = TypeVar("Reply")


@dataclass(frozen=True)
class Parsed:
    """A reply as the protocol reported it, before pricing."""

    texts: tuple[str, ...]
    finish_reasons: tuple[str, ...]
    prompt_tokens: int
    completion_tokens: int
    sample_tokens: tuple[int, ...] = ()


class RetryingTierClient(ABC, Generic[Reply]):
    """A `TierClient` whose `generate` sends attempts until one answers, inside one deadline."""

    def __init__(self, spec: TierSpec, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._spec = spec
        self._clock = clock
        self._policy = RetryPolicy(spec.max_attempts, spec.backoff_initial_s, spec.backoff_max_s)
        self._what = f"tier {spec.name} ({spec.model} at {spec.address})"

    @property
    def spec(self) -> TierSpec:
        return self._spec

    @abstractmethod
    async def _send(
        self, prompt: str, params: SamplingParams, prompt_format: PromptFormat | None, left: float
    ) -> Reply:
        """One attempt with `left` seconds to go; raises a tier error (Unavailable is retried)."""

    @abstractmethod
    def _parse(self, reply: Reply, prompt_format: PromptFormat | None) -> Parsed:
        """The texts and token counts of a reply; raises TierFailed when it is malformed."""

    async def generate(
        self,
        prompt: str,
        params: SamplingParams,
        *,
        timeout_s: float | None = None,
        prompt_format: PromptFormat | None = None,
    ) -> TierResult:
        start = self._clock()
        deadline = start + (timeout_s if timeout_s is not None else self._spec.timeout_s)

        async def attempt(left: float) -> Reply:
            try:
                async with asyncio.timeout(left):
                    return await self._send(prompt, params, prompt_format, left)
            except TimeoutError as exc:
                raise TierDeadlineExceeded(f"{self._what}: no answer within {left:.3f} s") from exc

        reply, attempts = await call_with_retry(
            attempt, deadline=deadline, policy=self._policy, what=self._what, clock=self._clock
        )
        latency_s = self._clock() - start
        parsed = self._parse(reply, prompt_format)
        usage = Usage.priced(
            parsed.prompt_tokens, parsed.completion_tokens, self._spec.price_per_1k_tokens
        )
        return TierResult(
            tier=self._spec.name,
            model=self._spec.model,
            texts=parsed.texts,
            finish_reasons=parsed.finish_reasons,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=usage.cost_usd,
            latency_s=latency_s,
            attempts=attempts,
            sample_tokens=parsed.sample_tokens,
        )
