"""The sampling contract between a tier client and a tier server: how to sample, which template.

Both sides of the wire agree on these names and nothing else: the client encodes a
`SamplingParams` into Triton's `sampling_parameters` JSON (or an OpenAI request body), the tier
server parses that JSON back into one and checks it against its own limits. Keeping the contract
here lets the mesh image and the tier image share it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["GEN_AI_OPERATIONS", "PromptFormat", "SamplingParams"]

PromptFormat = Literal["chat", "raw"]

# The OpenTelemetry GenAI operation (`gen_ai.operation.name`) each prompt format is, for the
# client's and the tier server's spans alike.
GEN_AI_OPERATIONS: dict[PromptFormat, str] = {"chat": "chat", "raw": "text_completion"}


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. temperature 0 means greedy; `seed` makes sampled runs repeatable."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0
