"""A standardised logistic regression shipped as plain numbers: the router's learned models.

The pre-router (`router.prerouter`) and the learned verifier (`router.verifier`) are both trained
offline with scikit-learn and applied here with a dot product. Plain numbers rather than a pickle
or joblib file: unpickling runs code named in the file, so a model file would be a
code-execution hole in the router; a skops file would be safe but needs scikit-learn in the
router's image for what is a dot product and a logistic. Each model states its version and its
feature names; a router that computes other features refuses it at start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["LogisticModel"]


class LogisticModel(BaseModel):
    """P = logistic(coef · (x - mean) / scale + intercept), over `FEATURES` in order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # What a subclass computes and reads; its error messages name it as `KIND`.
    FEATURES: ClassVar[tuple[str, ...]] = ()
    VERSION: ClassVar[int] = 1
    KIND: ClassVar[str] = "model"

    version: int = Field(default=1, description="Format of this model.")
    features: tuple[str, ...] = Field(description="Input names, in order (must be FEATURES).")
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    description: str = Field(default="", description="How it was trained.")

    @model_validator(mode="after")
    def _shapes(self) -> Self:
        if self.version != self.VERSION:
            raise ValueError(
                f"{self.KIND} version {self.version}; this router reads {self.VERSION}"
            )
        if self.features != self.FEATURES:
            raise ValueError(
                f"features {list(self.features)}; this router computes {self.FEATURES}"
            )
        if not len(self.mean) == len(self.scale) == len(self.coef) == len(self.FEATURES):
            raise ValueError("mean, scale and coef need one value per feature")
        if any(s <= 0 for s in self.scale):
            raise ValueError("every scale must be positive")
        return self

    def probability(self, x: Sequence[float]) -> float:
        z = self.intercept + sum(
            c * (v - m) / s for c, v, m, s in zip(self.coef, x, self.mean, self.scale, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))
