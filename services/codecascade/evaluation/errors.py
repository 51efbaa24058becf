"""What can go wrong when evaluating: a dataset that cannot be read, a cache that does not fit."""

from __future__ import annotations

from codecascade.core.errors import InvalidInput

__all__ = ["CacheMismatch", "DatasetError", "EvaluationError", "NothingFits"]


class EvaluationError(InvalidInput):
    """Base of the evaluation's errors; each message says what to change."""


class DatasetError(EvaluationError):
    """A dataset file is missing, not JSONL, or in neither HumanEval's nor MBPP's schema."""


class CacheMismatch(EvaluationError):
    """A cache directory was made with other settings (dataset, tiers, k, l, seed)."""


class NothingFits(EvaluationError):
    """No configuration's cost is within the budget."""
