"""Training the learned pre-router from a `cascade eval` cache (scikit-learn, cross-validated).

The label is whether the tier's greedy answer fails the benchmark's hidden test; the inputs are
`router.prerouter.features` of the task, so the router computes exactly what was trained on.
A standardised logistic regression (`LogisticRegressionCV`, its regularisation chosen by
stratified k-fold cross-validation) is small enough for 49 training problems and exports as a
handful of coefficients (`PreRouterModel`, plain JSON). Predictions on the problems it is trained
on are out-of-fold (`cross_val_predict`), so the validation split's figures are not flattered by
the fit; the held-out problems get the model fitted on the whole validation split.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt

from codecascade.core.task import Problem
from codecascade.evaluation.linear import coefficients
from codecascade.router.prerouter import FEATURES, PreRouterModel, features

__all__ = ["fit", "predict", "skip_probabilities"]

FloatArray = npt.NDArray[np.float64]


def _matrix(problems: Sequence[Problem]) -> FloatArray:
    return np.array([features(p) for p in problems], dtype=np.float64)


def _pipeline(seed: int, folds: int):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return make_pipeline(
        StandardScaler(),
        LogisticRegressionCV(
            Cs=8,
            cv=cv,
            max_iter=1000,
            l1_ratios=(0.0,),  # plain L2
            scoring="neg_log_loss",  # probabilities are what the threshold reads
            use_legacy_attributes=False,
        ),
    )


MIN_CLASS = 5  # fewer problems on either side than this: nothing to learn from


def _folds(labels: npt.NDArray[np.bool_]) -> int:
    return int(max(2, min(5, labels.sum(), (~labels).sum())))


@contextmanager
def _quiet() -> Iterator[None]:
    """The inner cross-validation of a small class may have folds one short of a member; the
    stratified split handles that, so its warning is noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        yield


def fit(
    problems: Sequence[Problem],
    failed: Sequence[bool] | npt.NDArray[np.bool_],
    *,
    tier: str,
    seed: int = 0,
) -> PreRouterModel:
    """The model for `tier`, trained on these problems (labels: its greedy answer failed)."""
    x, y = _matrix(problems), np.array(failed, dtype=np.bool_)
    if min(y.sum(), (~y).sum()) < MIN_CLASS:
        raise ValueError(
            f"tier {tier}: {int(y.sum())} failures and {int((~y).sum())} passes among the "
            f"training problems; at least {MIN_CLASS} of each are needed to train"
        )
    pipeline = _pipeline(seed, _folds(y))
    with _quiet():
        pipeline.fit(x, y)
    model = pipeline[-1]
    return PreRouterModel(
        tier=tier,
        features=FEATURES,
        **coefficients(pipeline),
        description=(
            f"logistic regression (C = {float(np.ravel(model.C_)[0]):.3g} by {_folds(y)}-fold "
            f"CV) on "
            f"{len(y)} problems, {int(y.sum())} where {tier}'s greedy answer failed"
        ),
    )


def predict(model: PreRouterModel, problems: Sequence[Problem]) -> FloatArray:
    return np.array([model.failure_probability(p) for p in problems], dtype=np.float64)


def skip_probabilities(
    problems: Sequence[Problem],
    failed: Sequence[bool] | npt.NDArray[np.bool_],
    train: npt.NDArray[np.intp],
    *,
    tier: str,
    seed: int = 0,
) -> tuple[FloatArray, PreRouterModel]:
    """P(the tier fails) for every problem: out-of-fold on `train`, the model fitted on all of
    `train` elsewhere; and that model."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    y = np.array(failed, dtype=np.bool_)
    chosen = [problems[i] for i in train]
    model = fit(chosen, y[train], tier=tier, seed=seed)
    probabilities = predict(model, problems)
    folds = StratifiedKFold(n_splits=_folds(y[train]), shuffle=True, random_state=seed)
    inner = _pipeline(seed, _folds(y[train]))
    with _quiet():
        oof = cross_val_predict(inner, _matrix(chosen), y[train], cv=folds, method="predict_proba")
    probabilities[train] = oof[:, 1]
    return probabilities, model
