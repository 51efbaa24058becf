"""Errors the tier server and its model cache raise.

    CascadeError (codecascade.core.errors)
    ├── InvalidInput
    │   ├── InvalidRequest       a tensor or sampling parameter the caller can fix
    │   └── PromptTooLong        prompt tokens do not fit the context (counts attached)
    ├── NotFound
    │   └── UnknownModel         neither a catalog name nor an existing GGUF path
    ├── Unavailable
    │   ├── ModelFileError       the model file is missing or corrupt: says what to run
    │   └── FetchFailed          pip could not download a pinned wheel
    └── ResourceExhausted
        └── QueueFull            the per-model request queue is full

The errors a tier client raises about a remote tier are in `codecascade.tierclient.errors`.
"""

from __future__ import annotations

from codecascade.core.errors import InvalidInput, NotFound, ResourceExhausted, Unavailable

__all__ = [
    "FetchFailed",
    "InvalidRequest",
    "ModelFileError",
    "PromptTooLong",
    "QueueFull",
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


class ModelFileError(Unavailable):
    """The model file is missing or does not match its pinned sha256."""


class FetchFailed(Unavailable):
    """Downloading a pinned wheel failed (network, index, or hash mismatch reported by pip)."""


class QueueFull(ResourceExhausted):
    """More requests are waiting for this model than its queue admits."""
