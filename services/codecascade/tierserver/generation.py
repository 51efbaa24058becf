"""The server side of one generation: sampling parameters parsed and bounded, completions out.

Parsing lives here, not in the KServe predictor, so the same checks (and the same error messages)
apply whether a request came over gRPC, REST or a direct engine call in a benchmark. The JSON keys
are those of Triton's vLLM backend `sampling_parameters`, so one client fits every tier.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from codecascade.core.sampling import SamplingParams
from codecascade.tierserver.errors import InvalidRequest

__all__ = [
    "Completion",
    "FinishReason",
    "Phases",
    "SamplingLimits",
    "parse_sampling_parameters",
]

FinishReason = Literal["stop", "length", "cancelled"]

_KNOWN_KEYS = frozenset({"n", "temperature", "top_p", "max_tokens", "stop", "seed"})
_MAX_STOPS = 16
_MAX_STOP_CHARS = 256


@dataclass(frozen=True)
class SamplingLimits:
    """Server-side bounds a request is checked against."""

    max_samples: int = 16
    default_max_tokens: int = 512
    max_tokens_limit: int = 2048


@dataclass(frozen=True)
class Phases:
    """When one generation went through its phases (`time.time_ns()` instants), so the tier
    server can show them as spans of the caller's trace: waiting for the worker (queue), prompt
    evaluation (until the first token is sampled), decoding (until the last one)."""

    submitted_ns: int
    started_ns: int
    first_token_ns: int
    finished_ns: int


@dataclass(frozen=True)
class Completion:
    """`n` completions of one prompt, what they cost in tokens, and where the time went."""

    texts: tuple[str, ...]
    finish_reasons: tuple[FinishReason, ...]
    prompt_tokens: int
    completion_tokens: tuple[int, ...]
    # Timing, not content: two completions with the same answers are equal however long each
    # took (a retried seeded request "gets the same completion").
    phases: Phases | None = field(default=None, compare=False)

    @property
    def total_completion_tokens(self) -> int:
        return sum(self.completion_tokens)


def _int(params: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"sampling_parameters.{key} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise InvalidRequest(f"sampling_parameters.{key}={value} is outside [{low}, {high}]")
    return value


def _float(params: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"sampling_parameters.{key} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise InvalidRequest(f"sampling_parameters.{key}={value} is outside [{low}, {high}]")
    return number


def _top_p(params: Mapping[str, Any]) -> float:
    value = _float(params, "top_p", 1.0, 0.0, 1.0)
    if value == 0.0:
        raise InvalidRequest("sampling_parameters.top_p must be in (0, 1]")
    return value


def _stops(params: Mapping[str, Any]) -> tuple[str, ...]:
    value = params.get("stop", ())
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(s, str) and s for s in items):
        raise InvalidRequest(
            "sampling_parameters.stop must be a non-empty string or a list of them"
        )
    if len(items) > _MAX_STOPS or any(len(s) > _MAX_STOP_CHARS for s in items):
        raise InvalidRequest(
            f"sampling_parameters.stop allows {_MAX_STOPS} strings of {_MAX_STOP_CHARS} chars"
        )
    return tuple(items)


def _seed(params: Mapping[str, Any]) -> int | None:
    value = params.get("seed")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise InvalidRequest(
            f"sampling_parameters.seed must be an integer in [0, 2^31), got {value!r}"
        )
    return value


def parse_sampling_parameters(
    raw: str | bytes | Mapping[str, Any] | None, limits: SamplingLimits
) -> SamplingParams:
    """Validates the `sampling_parameters` JSON object; unknown keys are rejected, not ignored.

    Silently ignoring a misspelt key (`max_token`) would return a different completion than the
    caller asked for, which the cascade would then score as if it were what was asked.
    """
    if raw is None or raw in ("", b""):
        params: Any = {}
    elif isinstance(raw, str | bytes):
        try:
            params = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidRequest(f"sampling_parameters is not valid JSON: {exc}") from exc
    else:
        params = raw
    if not isinstance(params, Mapping):
        raise InvalidRequest("sampling_parameters must be a JSON object")
    unknown = sorted(set(params) - _KNOWN_KEYS)
    if unknown:
        raise InvalidRequest(
            f"unknown sampling_parameters {', '.join(unknown)}; "
            f"supported: {', '.join(sorted(_KNOWN_KEYS))}"
        )
    return SamplingParams(
        n=_int(params, "n", 1, 1, limits.max_samples),
        temperature=_float(params, "temperature", 0.0, 0.0, 2.0),
        top_p=_top_p(params),
        max_tokens=_int(
            params, "max_tokens", limits.default_max_tokens, 1, limits.max_tokens_limit
        ),
        stop=_stops(params),
        seed=_seed(params),
    )
