"""An inference span around every tier call, per the OpenTelemetry GenAI conventions.

Wrapping the `TierClient` (rather than each caller) means the router's solution calls and test
synthesis's test calls are traced the same way: span "{operation} {model}", kind CLIENT, with the
request's sampling parameters and the tokens used. Prompts and completions are not recorded.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider

from codecascade.core.sampling import GEN_AI_OPERATIONS, PromptFormat, SamplingParams
from codecascade.core.tiers import TierSpec
from codecascade.tierclient.client import TierClient, TierResult

__all__ = ["TracedTierClient"]


class TracedTierClient:
    """A `TierClient` that records each call as a GenAI inference span."""

    def __init__(self, inner: TierClient, tracer_provider: TracerProvider | None = None) -> None:
        self._inner = inner
        self._tracer = trace.get_tracer("codecascade.tiers", tracer_provider=tracer_provider)

    @property
    def spec(self) -> TierSpec:
        return self._inner.spec

    async def generate(
        self,
        prompt: str,
        params: SamplingParams,
        *,
        timeout_s: float | None = None,
        prompt_format: PromptFormat | None = None,
    ) -> TierResult:
        spec = self._inner.spec
        operation = GEN_AI_OPERATIONS[prompt_format or "chat"]
        attributes: dict[str, str | int | float] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": spec.protocol,
            "gen_ai.request.model": spec.model,
            "gen_ai.request.temperature": params.temperature,
            "gen_ai.request.top_p": params.top_p,
            "gen_ai.request.max_tokens": params.max_tokens,
            "gen_ai.request.choice.count": params.n,
            "codecascade.tier": spec.name,
        }
        if params.seed is not None:
            attributes["gen_ai.request.seed"] = params.seed
        with self._tracer.start_as_current_span(
            f"{operation} {spec.model}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=True,
            set_status_on_exception=True,
        ) as span:
            result = await self._inner.generate(
                prompt, params, timeout_s=timeout_s, prompt_format=prompt_format
            )
            span.set_attribute("gen_ai.usage.input_tokens", result.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", result.completion_tokens)
            span.set_attribute("gen_ai.response.finish_reasons", list(result.finish_reasons))
            span.set_attribute("codecascade.cost_usd", result.cost_usd)
            span.set_status(Status(StatusCode.OK))
            return result

    async def ready(self, *, timeout_s: float = 5.0) -> bool:
        return await self._inner.ready(timeout_s=timeout_s)

    async def close(self) -> None:
        await self._inner.close()
