"""Training the learned verifier from a `cascade eval` cache (scikit-learn), issue 18.

The router's last tier, with a verifier in its policy, answers with the candidate of every tier
tried that `router.verifier.VerifierModel` scores most likely correct. The model is a
standardised logistic regression over `router.verifier.features`, so what is trained here is
what the router computes; it is exported as plain numbers (`mean`, `scale`, `coef`,
`intercept`), as the pre-router is (`evaluation.prerouter`).

Training rows follow benchmarks/verifier.py: for every training problem, every pool the last
step can end with (the earlier steps' candidates, plus the first d of its samples, d = 0..k),
each candidate one row labelled by the benchmark's hidden test. Problems the cascade answers
before the last step count too: the features are defined for any pool, and ~50 validation
problems would otherwise leave ~15 that reach it. `learned_outcomes` gives a configuration's
figures per problem with the model trained on a split's validation problems only: out-of-fold
there (folds grouped by problem), the model fitted on all of them on every other problem.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from codecascade.evaluation.grid import Config, OutcomeTable
from codecascade.evaluation.linear import coefficients
from codecascade.evaluation.options import step_tests, verifier_inputs
from codecascade.router.verifier import FEATURES, VerifierModel, features

__all__ = ["FOLDS", "C", "fit", "learned_outcomes", "training_rows"]

C = 0.3  # inverse regularisation: the research script's choice (docs/results/verifier.md)
FOLDS = 5

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def training_rows(
    table: OutcomeTable, config: Config, indices: npt.NDArray[np.intp]
) -> tuple[FloatArray, BoolArray]:
    """Features and labels of every candidate of every pool the last step can end with."""
    if table.records is None:
        raise ValueError("the verifier is trained from a table read from a cache")
    last = len(config.steps) - 1
    tier, setting = config.steps[last]
    x: list[tuple[float, ...]] = []
    y: list[bool] = []
    for problem in indices:
        records = table.records[int(problem)]
        carried, seen, seen_tests = table.handed(config, last, int(problem))
        tests = step_tests(records, tier, setting, carried)
        every = list(dict.fromkeys((*seen_tests, *tests)))
        samples = [(tier, row) for row in range(setting.k)]
        for drawn in range(setting.k + 1):
            candidates = [*seen, *samples[:drawn]]
            if not candidates:
                continue
            x += features(*verifier_inputs(records, candidates, every))
            y += [records.hidden(*c) for c in candidates]
    return np.array(x, dtype=np.float64).reshape(-1, len(FEATURES)), np.array(y, dtype=np.bool_)


def fit(
    table: OutcomeTable, config: Config, indices: npt.NDArray[np.intp], *, c: float = C
) -> VerifierModel:
    """The verifier for `config`'s last step, trained on the problems `indices`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = training_rows(table, config, indices)
    if y.all() or not y.any():
        raise ValueError(
            f"{config.label()}: {int(y.sum())} correct of {len(y)} candidates on the training "
            "problems; the verifier needs both"
        )
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
    pipeline.fit(x, y)
    return VerifierModel(
        features=FEATURES,
        **coefficients(pipeline),
        description=(
            f"logistic regression (C = {c:g}) on {len(y)} candidates of {len(indices)} "
            f"problems ({int(y.sum())} correct), for {config.label()}"
        ),
    )


def learned_outcomes(
    table: OutcomeTable,
    config: Config,
    validation: npt.NDArray[np.intp],
    *,
    folds: int = FOLDS,
    c: float = C,
) -> tuple[BoolArray, FloatArray]:
    """Per problem, pass@1 and cost ($) of `config` with a verifier trained on `validation`
    only: out-of-fold there (`folds` folds of problems, GroupKFold), the model fitted on every
    validation problem elsewhere. The table's verifier is restored afterwards."""
    from sklearn.model_selection import GroupKFold

    before = table.verifier
    try:
        table.verifier = fit(table, config, validation, c=c)
        outcomes = table.per_problem(config)
        correct, cost = outcomes.correct.copy(), outcomes.cost.copy()
        splits = GroupKFold(n_splits=min(folds, len(validation)))
        for train, test in splits.split(validation, groups=validation):
            table.verifier = fit(table, config, validation[train], c=c)
            scored = validation[test]
            correct[scored] = table.per_problem(config).correct[scored]
    finally:
        table.verifier = before
    return correct, cost
