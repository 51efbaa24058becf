"""Errors the tier server, the model cache and the tier clients raise.

    CascadeError (codecascade.mesh.errors)
    ├── InvalidInput
    │   ├── InvalidRequest       a tensor or sampling parameter the caller can fix
    │   └── PromptTooLong        prompt tokens do not fit the context (counts attached)
    ├── NotFound
    │   ├── UnknownModel         neither a catalog name nor an existing GGUF path
    │   └── TierNotFound         the tier server does not serve the requested model
    ├── Unavailable
    │   ├── ModelFileError       the model file is missing or corrupt: says what to run
    │   ├── FetchFailed          pip could not download a pinned wheel
    │   └── TierUnavailable      a tier server is unreachable or went away mid-request
    ├── ResourceExhausted
    │   ├── QueueFull            the per-model request queue is full
    │   └── TierOverloaded       a remote tier answered RESOURCE_EXHAUSTED (after retries)
    ├── DeadlineExceeded
    │   └── TierDeadlineExceeded the caller's deadline ran out waiting for a tier
    └── TierFailed               the tier answered INTERNAL/UNKNOWN or garbage (not retried)

A remote INVALID_ARGUMENT reaches the caller as `TierRejected` (an `InvalidInput`), so the router
never retries a request the tier will always refuse.
"""

from __future__ import annotations

from codecascade.core.errors import CascadeError, DeadlineExceeded, InvalidInput, NotFound, ResourceExhausted, Unavailable

__all__ = [
    "FetchFailed",
    "InvalidRequest",
    "ModelFileError",
    "PromptTooLong",
    "QueueFull",
    "TierDeadlineExceeded",
    "TierFailed",
    "TierNotFound",
    "TierOverloaded",
    "TierRejected",
    "TierUnavailable",
    "UnknownModel",
]


class InvalidRequest(InvalidInput):
    """A malformed tensor or sampling parameter."""


class PromptTooLong(InvalidInput):
    """The prompt alone does not fit the model's context window."""

    def __init__(self, prompt_tokens: int, n_ctx: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.n_ctx = n_ctx
        super().__init__(
            f"prompt is {prompt_tokens} tokens; the context holds {n_ctx} tokens "
            f"(at least 1 must be left for the completion)"
        )


class UnknownModel(NotFound):
    """A `--model` value that is neither S/M/L nor an existing file."""


class TierNotFound(NotFound):
    """The tier answered NOT_FOUND: it does not serve that model name."""


class TierRejected(InvalidInput):
    """The tier answered INVALID_ARGUMENT; retrying the same request cannot help."""


class ModelFileError(Unavailable):
    """The model file is missing or does not match its pinned sha256."""


class FetchFailed(Unavailable):
    """Downloading a pinned wheel failed (network, index, or hash mismatch reported by pip)."""


class TierUnavailable(Unavailable):
    """The tier could not be reached, or dropped the connection mid-request."""


class QueueFull(ResourceExhausted):
    """More requests are waiting for this model than its queue admits."""


class TierOverloaded(ResourceExhausted):
    """The tier kept answering RESOURCE_EXHAUSTED."""


class TierDeadlineExceeded(DeadlineExceeded):
    """No answer from the tier before the deadline."""


class TierFailed(CascadeError):
    """The tier failed in a way retrying will not fix, or sent a malformed response."""
