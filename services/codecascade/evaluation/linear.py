"""A fitted scikit-learn StandardScaler + LogisticRegression as the numbers the router applies
(`router.logistic.LogisticModel`): the pre-router's and the learned verifier's export."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

__all__ = ["coefficients"]


def coefficients(pipeline: Pipeline) -> dict[str, Any]:
    """mean, scale, coef and intercept of a fitted (scaler, logistic regression) pipeline; a
    constant feature's zero scale becomes 1 (the scaler leaves it centred, as here)."""
    scaler, model = pipeline[0], pipeline[-1]
    return {
        "mean": tuple(float(v) for v in scaler.mean_),
        "scale": tuple(float(v) if v > 0 else 1.0 for v in scaler.scale_),
        "coef": tuple(float(v) for v in np.ravel(model.coef_)),
        "intercept": float(np.ravel(model.intercept_)[0]),
    }
