"""Tokens and dollars: one cost formula for the online cascade, the tier clients and the grid.

DESIGN §1: cost is generated tokens only (answers and test lines) times the tier's configured
price per 1000 tokens; prompt tokens are not charged. `token_cost` is plain arithmetic so the
same function prices one call (ints and floats) and a whole column of the offline grid (numpy
arrays, elementwise): there is no second copy of the formula to drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Usage", "split_by_weight", "token_cost"]


@overload
def token_cost(tokens: float, price_per_1k_tokens: float) -> float: ...


@overload
def token_cost(
    tokens: npt.NDArray[np.float64], price_per_1k_tokens: float
) -> npt.NDArray[np.float64]: ...


def token_cost(
    tokens: float | npt.NDArray[np.float64], price_per_1k_tokens: float
) -> float | npt.NDArray[np.float64]:
    """Dollars for `tokens` generated tokens at a price per 1000 (elementwise on arrays)."""
    return tokens * price_per_1k_tokens / 1000.0


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens and dollars spent by one or more model calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @classmethod
    def priced(cls, prompt_tokens: int, completion_tokens: int, price_per_1k: float) -> Usage:
        """The usage of a call whose generated tokens are charged at `price_per_1k`."""
        return cls(prompt_tokens, completion_tokens, token_cost(completion_tokens, price_per_1k))

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost_usd + other.cost_usd,
        )


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
