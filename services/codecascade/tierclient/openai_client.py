"""The OpenAI-compatible tier client (vLLM, KServe's Hugging Face runtime, hosted APIs), on httpx.

`prompt_format` "chat" (the default) posts to `chat/completions` with one user message; "raw"
posts to `completions`. Transport failures (refused, reset, closed mid-body) and 502/503/504 are
UNAVAILABLE and retried; 429 is overloaded, 400/422 rejected, 404 an unknown model. Each attempt
is bounded by `asyncio.timeout` (`RetryingTierClient`), because httpx's timeouts apply per
network operation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from codecascade.core.errors import CascadeError
from codecascade.core.sampling import PromptFormat, SamplingParams
from codecascade.core.tiers import TierSpec
from codecascade.tierclient.base import Parsed, RetryingTierClient
from codecascade.tierclient.errors import (
    TierDeadlineExceeded,
    TierFailed,
    TierNotFound,
    TierOverloaded,
    TierRejected,
    TierUnavailable,
)

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


def _chat(prompt_format: PromptFormat | None) -> bool:
    return (prompt_format or "chat") == "chat"


def _detail(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:300] or response.reason_phrase


class OpenAITierClient(RetryingTierClient[dict[str, Any]]):
    """A `TierClient` for OpenAI-compatible `/v1/completions` and `/v1/chat/completions`."""

    def __init__(
        self,
        spec: TierSpec,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(spec, clock=clock)
        headers = {"Authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
        base = spec.address if spec.address.endswith("/") else spec.address + "/"
        self._http = httpx.AsyncClient(base_url=base, headers=headers, transport=transport)

    async def _send(
        self, prompt: str, params: SamplingParams, prompt_format: PromptFormat | None, left: float
    ) -> dict[str, Any]:
        chat = _chat(prompt_format)
        path = "chat/completions" if chat else "completions"
        body = _body(self._spec.model, prompt, params, chat)
        try:
            response = await self._http.post(path, json=body, timeout=left)
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

    def _parse(self, reply: dict[str, Any], prompt_format: PromptFormat | None) -> Parsed:
        chat = _chat(prompt_format)
        try:
            choices = sorted(reply["choices"], key=lambda c: int(c.get("index", 0)))
            texts = tuple(
                str((c["message"]["content"] if chat else c["text"]) or "") for c in choices
            )
            reasons = tuple(str(c.get("finish_reason") or "stop") for c in choices)
            usage = reply.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens", 0))
            completion_tokens = int(usage.get("completion_tokens", 0))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TierFailed(f"{self._what}: malformed completion response: {exc!r}") from exc
        if not texts:
            raise TierFailed(f"{self._what}: response has no choices")
        return Parsed(texts, reasons, prompt_tokens, completion_tokens)

    async def ready(self, *, timeout_s: float = 5.0) -> bool:
        """`GET models` lists the model (the one readiness call every such server has)."""
        try:
            async with asyncio.timeout(timeout_s):
                response = await self._http.get("models", timeout=timeout_s)
            if response.status_code != 200:
                return False
            listed = response.json().get("data", [])
            return any(m.get("id") == self._spec.model for m in listed)
        except (TimeoutError, httpx.HTTPError, ValueError, AttributeError):
            return False

    async def close(self) -> None:
        await self._http.aclose()
