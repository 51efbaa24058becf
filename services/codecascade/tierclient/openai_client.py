"""The OpenAI-compatible tier client (vLLM, KServe's Hugging Face runtime, hosted APIs), on httpx.

`prompt_format` "chat" (the default) posts to `chat/completions` with one user message; "raw"
posts to `completions`. Transport failures (refused, reset, closed mid-body) and 502/503/504 are
UNAVAILABLE and retried; 429 is overloaded, 400/422 rejected, 404 an unknown model. The whole call
is bounded by `asyncio.timeout`, because httpx's timeouts apply per network operation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from codecascade.core.errors import CascadeError
from codecascade.core.sampling import PromptFormat, SamplingParams
from codecascade.tierclient.client import TierEndpoint, TierResult, completion_cost
from codecascade.tierclient.errors import TierDeadlineExceeded, TierFailed, TierNotFound, TierOverloaded, TierRejected, TierUnavailable
from codecascade.tierclient.retry import RetryPolicy, call_with_retry

__all__ = ["OpenAITierClient"]

_STATUS_ERRORS: dict[int, type[CascadeError]] = {
    400: TierRejected,
    404: TierNotFound,
    422: TierRejected,
    429: TierOverloaded,
    502: TierUnavailable,
    503: TierUnavailable,
    504: TierUnavailable,
}


def _body(model: str, prompt: str, params: SamplingParams, chat: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "n": params.n,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
    }
    if chat:
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    if params.stop:
        body["stop"] = list(params.stop)
    if params.seed is not None:
        body["seed"] = params.seed
    return body


def _detail(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:300] or response.reason_phrase


class OpenAITierClient:
    """A `TierClient` for OpenAI-compatible `/v1/completions` and `/v1/chat/completions`."""

    def __init__(
        self,
        endpoint: TierEndpoint,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._endpoint = endpoint
        self._clock = clock
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        base = endpoint.address if endpoint.address.endswith("/") else endpoint.address + "/"
        self._http = httpx.AsyncClient(base_url=base, headers=headers, transport=transport)
        self._policy = RetryPolicy(
            endpoint.max_attempts, endpoint.backoff_initial_s, endpoint.backoff_max_s
        )
        self._what = f"tier {endpoint.tier} ({endpoint.model} at {endpoint.address})"

    @property
    def endpoint(self) -> TierEndpoint:
        return self._endpoint

    async def generate(
        self,
        prompt: str,
        params: SamplingParams,
        *,
        timeout_s: float | None = None,
        prompt_format: PromptFormat | None = None,
    ) -> TierResult:
        start = self._clock()
        deadline = start + (timeout_s if timeout_s is not None else self._endpoint.timeout_s)
        chat = (prompt_format or "chat") == "chat"
        path = "chat/completions" if chat else "completions"
        body = _body(self._endpoint.model, prompt, params, chat)

        async def attempt(left: float) -> dict[str, Any]:
            try:
                async with asyncio.timeout(left):
                    response = await self._http.post(path, json=body, timeout=left)
            except TimeoutError as exc:
                raise TierDeadlineExceeded(f"{self._what}: no answer within {left:.3f} s") from exc
            except httpx.TimeoutException as exc:
                raise TierDeadlineExceeded(f"{self._what}: {type(exc).__name__}") from exc
            except httpx.TransportError as exc:
                raise TierUnavailable(f"{self._what}: {type(exc).__name__}: {exc}") from exc
            if response.status_code != 200:
                kind = _STATUS_ERRORS.get(response.status_code, TierFailed)
                raise kind(f"{self._what}: HTTP {response.status_code}: {_detail(response)}")
            try:
                payload = response.json()
            except ValueError as exc:
                raise TierFailed(f"{self._what}: response is not JSON") from exc
            if not isinstance(payload, dict):
                raise TierFailed(f"{self._what}: response is not a JSON object")
            return payload

        payload, attempts = await call_with_retry(
            attempt, deadline=deadline, policy=self._policy, what=self._what, clock=self._clock
        )
        return self._result(payload, chat, attempts, self._clock() - start)

    def _result(
        self, payload: dict[str, Any], chat: bool, attempts: int, latency_s: float
    ) -> TierResult:
        try:
            choices = sorted(payload["choices"], key=lambda c: int(c.get("index", 0)))
            texts = tuple(
                str((c["message"]["content"] if chat else c["text"]) or "") for c in choices
            )
            reasons = tuple(str(c.get("finish_reason") or "stop") for c in choices)
            usage = payload.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens", 0))
            completion_tokens = int(usage.get("completion_tokens", 0))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TierFailed(f"{self._what}: malformed completion response: {exc!r}") from exc
        if not texts:
            raise TierFailed(f"{self._what}: response has no choices")
        return TierResult(
            tier=self._endpoint.tier,
            model=self._endpoint.model,
            texts=texts,
            finish_reasons=reasons,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=completion_cost(completion_tokens, self._endpoint.price_per_1k_tokens),
            latency_s=latency_s,
            attempts=attempts,
        )

    async def ready(self, *, timeout_s: float = 5.0) -> bool:
        """`GET models` lists the model (the one readiness call every such server has)."""
        try:
            async with asyncio.timeout(timeout_s):
                response = await self._http.get("models", timeout=timeout_s)
            if response.status_code != 200:
                return False
            listed = response.json().get("data", [])
            return any(m.get("id") == self._endpoint.model for m in listed)
        except (TimeoutError, httpx.HTTPError, ValueError, AttributeError):
            return False

    async def close(self) -> None:
        await self._http.aclose()
