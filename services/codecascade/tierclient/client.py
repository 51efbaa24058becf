"""One async interface to a tier, whatever protocol it speaks; results carry tokens and cost.

The router and test synthesis see only `TierClient`: the OIP v2 implementation reaches Triton,
KServe or our llama.cpp tier unchanged; the OpenAI one reaches vLLM, KServe's Hugging Face
runtime or a hosted API. Cost is computed with the one formula in `codecascade.core.usage`, from
the tier's configured price and the tokens it generated (DESIGN §1: generated tokens only), so
every caller accounts the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from codecascade.core.sampling import PromptFormat, SamplingParams
from codecascade.core.tiers import TierSpec
from codecascade.core.usage import Usage, split_by_weight

__all__ = ["TierClient", "TierResult"]


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

    @property
    def usage(self) -> Usage:
        return Usage(self.prompt_tokens, self.completion_tokens, self.cost_usd)

    def tokens_per_sample(self) -> tuple[int, ...]:
        """Each text's share of completion_tokens: as reported, else split by text length (the
        OpenAI API counts only the total), so that the shares always add up to the total."""
        if len(self.sample_tokens) == len(self.texts):
            return self.sample_tokens
        return split_by_weight(self.completion_tokens, [len(t) for t in self.texts])


class TierClient(Protocol):
    """Generates completions from one tier. Implementations must never hang past the deadline."""

    @property
    def spec(self) -> TierSpec: ...

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
