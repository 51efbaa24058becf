"""One async interface to a tier, whatever protocol it speaks; results carry tokens and cost.

The router and test synthesis see only `TierClient`: the OIP v2 implementation reaches Triton,
KServe or our llama.cpp tier unchanged; the OpenAI one reaches vLLM, KServe's Hugging Face
runtime or a hosted API. Cost is computed here, from the tier's configured price and the tokens it
generated (DESIGN §1: generated tokens only), so every caller accounts the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from codecascade.core.sampling import PromptFormat, SamplingParams

__all__ = ["TierClient", "TierEndpoint", "TierProtocol", "TierResult", "completion_cost"]

TierProtocol = Literal["oip-grpc", "openai"]


@dataclass(frozen=True)
class TierEndpoint:
    """Where a tier is and what it costs. Prices are configuration, never constants in code."""

    tier: str
    protocol: TierProtocol
    address: str  # host:port for oip-grpc; base URL (…/v1) for openai
    model: str
    price_per_1k_tokens: float
    timeout_s: float = 120.0  # used when the caller passes no deadline
    max_attempts: int = 3  # UNAVAILABLE is retried, everything else is not
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 2.0
    api_key: str = ""  # openai only; sent as a bearer token


@dataclass(frozen=True)
class TierResult:
    """What one generation call returned and cost."""

    tier: str
    model: str
    texts: tuple[str, ...]
    finish_reasons: tuple[str, ...]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float
    attempts: int
    # Generated tokens of each text, when the protocol reports them (OIP v2 does, per sample).
    sample_tokens: tuple[int, ...] = ()

    def tokens_per_sample(self) -> tuple[int, ...]:
        """Each text's share of completion_tokens: as reported, else split by text length (the
        OpenAI API counts only the total), so that the shares always add up to the total."""
        if len(self.sample_tokens) == len(self.texts):
            return self.sample_tokens
        return split_by_weight(self.completion_tokens, [len(t) for t in self.texts])


def split_by_weight(total: int, weights: list[int]) -> tuple[int, ...]:
    """`total` in whole parts proportional to `weights` (equal parts when they are all 0), summing
    to `total`: largest remainders get the leftover units."""
    if not weights:
        return ()
    if sum(weights) <= 0:
        weights = [1] * len(weights)
    exact = [total * w / sum(weights) for w in weights]
    parts = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - parts[i], reverse=True)
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return tuple(parts)


def completion_cost(completion_tokens: int, price_per_1k_tokens: float) -> float:
    """Dollars for `completion_tokens` generated tokens (prompt tokens are not charged)."""
    return completion_tokens * price_per_1k_tokens / 1000.0


class TierClient(Protocol):
    """Generates completions from one tier. Implementations must never hang past the deadline."""

    @property
    def endpoint(self) -> TierEndpoint: ...

    async def generate(
        self,
        prompt: str,
        params: SamplingParams,
        *,
        timeout_s: float | None = None,
        prompt_format: PromptFormat | None = None,
    ) -> TierResult:
        """`params.n` completions of `prompt`.

        Raises TierUnavailable (after retries), TierRejected, TierNotFound, TierOverloaded,
        TierDeadlineExceeded or TierFailed. Cancelling the awaiting task cancels the call.
        """
        ...

    async def ready(self, *, timeout_s: float = 5.0) -> bool:
        """Whether the tier reports itself ready to serve the model (False when unreachable)."""
        ...

    async def close(self) -> None: ...
