"""Turns what a caller asked for into a job the backends may run, or says exactly what is wrong.

Everything a request can make the service do is bounded here, before any sandbox starts: counts,
sizes, encodings and limits. Limits above the server's maxima are capped, not rejected, so callers
written against a more generous server keep working; the response reports the applied limits.
"""

from __future__ import annotations

import keyword
from collections.abc import Sequence
from dataclasses import dataclass

from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.errors import InvalidJob
from codecascade.sandbox.execution import ExecutionJob, Limits

__all__ = ["RequestedLimits", "validate_job"]


@dataclass(frozen=True, slots=True)
class RequestedLimits:
    """Limits as the caller sent them; zero means "use the server default"."""

    test_timeout_s: float = 0.0
    memory_bytes: int = 0
    output_bytes: int = 0


def _check_texts(kind: str, texts: Sequence[str], *, most: int, max_bytes: int) -> int:
    if not texts:
        raise InvalidJob(f"the request has no {kind}s: send at least one")
    if len(texts) > most:
        raise InvalidJob(
            f"the request has {len(texts)} {kind}s; this server accepts at most {most}"
        )
    total = 0
    for index, text in enumerate(texts):
        try:
            size = len(text.encode("utf-8"))
        except (
            UnicodeEncodeError
        ) as exc:  # lone surrogates cannot come over the wire, but can in-process
            raise InvalidJob(f"{kind} {index} is not valid UTF-8: {exc.reason}") from exc
        if size > max_bytes:
            raise InvalidJob(f"{kind} {index} is {size} bytes; the most allowed is {max_bytes}")
        if not text.strip():
            raise InvalidJob(f"{kind} {index} is empty")
        total += size
    return total


def _limit(name: str, asked: float, default: float, cap: float) -> float:
    if asked < 0:
        raise InvalidJob(f"limits.{name} must not be negative; got {asked}")
    return min(asked or default, cap)


def validate_job(
    settings: SandboxSettings,
    *,
    solutions: Sequence[str],
    tests: Sequence[str],
    entry_point: str,
    setup_code: str,
    limits: RequestedLimits,
    tenant: str = "",
    request_id: str = "",
) -> ExecutionJob:
    """The job to run, with limits applied; raises InvalidJob naming the first problem found."""
    total = _check_texts(
        "solution", solutions, most=settings.max_solutions, max_bytes=settings.max_code_bytes
    )
    total += _check_texts("test", tests, most=settings.max_tests, max_bytes=settings.max_test_bytes)
    setup_bytes = len(setup_code.encode("utf-8", errors="replace"))
    if setup_bytes > settings.max_code_bytes:
        raise InvalidJob(
            f"setup_code is {setup_bytes} bytes; the most allowed is {settings.max_code_bytes}"
        )
    total += setup_bytes
    if total > settings.max_request_bytes:
        raise InvalidJob(
            f"the request carries {total} bytes of code; the most allowed is "
            f"{settings.max_request_bytes}"
        )
    if not entry_point.isidentifier() or keyword.iskeyword(entry_point):
        raise InvalidJob(f"entry_point must be a Python identifier; got {entry_point[:60]!r}")
    applied = Limits(
        test_timeout_s=_limit(
            "test_timeout",
            limits.test_timeout_s,
            settings.default_test_timeout_s,
            settings.max_test_timeout_s,
        ),
        memory_bytes=int(
            _limit(
                "memory_bytes",
                limits.memory_bytes,
                settings.default_memory_bytes,
                settings.max_memory_bytes,
            )
        ),
        output_bytes=int(
            _limit(
                "output_bytes",
                limits.output_bytes,
                settings.default_output_bytes,
                settings.max_output_bytes,
            )
        ),
    )
    return ExecutionJob(
        solutions=tuple(solutions),
        tests=tuple(tests),
        entry_point=entry_point,
        setup_code=setup_code,
        limits=applied,
        tenant=tenant,
        request_id=request_id,
    )
