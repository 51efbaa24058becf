"""The learned verifier offline (issue 18): its grid structure, its training, its study and policy.

On the committed headline cache, tiers M and L only (the two configurations M → L → M with up to
2 or 3 M samples), so it stays fast. That the router picks the same answers is the replay test's
(tests/integration/evaluation/test_replay.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codecascade.core.decision import early_verdict
from codecascade.evaluation.cache import EvalCache
from codecascade.evaluation.calibrate import split, to_config, to_policy
from codecascade.evaluation.datasets import load_dataset
from codecascade.evaluation.grid import Config, OutcomeTable, TierSetting, option_configurations
from codecascade.evaluation.options import verifier_inputs
from codecascade.evaluation.study import run_study
from codecascade.evaluation.verifier import fit, learned_outcomes, training_rows
from codecascade.router.policy import CascadePolicy
from codecascade.router.verifier import FEATURES, VerifierModel, features

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / "benchmarks" / "results" / "eval-humaneval"


@pytest.fixture(scope="module")
def table() -> OutcomeTable:
    return OutcomeTable.from_cache(EvalCache.load(CACHE), ["M", "L"])


def _verified(tiers: tuple[str, ...] = ("M", "L")) -> list[Config]:
    return list(option_configurations(tiers, 5, 4, ["verifier"]))


def test_the_verifier_option_lists_the_cheap_tier_again_after_a_larger_one() -> None:
    configs = _verified()
    assert [c.label() for c in configs] == [
        "M(k1 l2 θ1.0) → L(k1 l0 θ1.0 +carried) → M(k2 l0 θ0.5 b1 +carried +all +verified)",
        "M(k1 l2 θ1.0) → L(k1 l0 θ1.0 +carried) → M(k3 l0 θ0.33 b1 +carried +all +verified)",
    ]
    assert len(_verified(("S", "M", "L"))) == 6
    with pytest.raises(ValueError, match="needs union"):
        TierSetting(2, 0, carry=True, verify=True)


@pytest.mark.parametrize("m", [2, 3])
def test_the_last_step_stops_after_one_sample_iff_it_passes_every_kept_test(m: int) -> None:
    theta = next(c for c in _verified() if c.steps[-1][1].k == m).steps[-1][1].theta
    for tests in range(1, 7):
        for mask in range(2**tests):
            row = [bool(mask >> j & 1) for j in range(tests)]
            stopped = early_verdict([row], m, theta, last=True) is not None
            assert stopped == all(row)


def test_a_verify_step_needs_a_model(table: OutcomeTable) -> None:
    table.verifier = None
    with pytest.raises(ValueError, match="learned verifier"):
        table.per_problem(_verified()[0])


def test_the_exported_model_is_sklearns(table: OutcomeTable) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    config = _verified()[0]
    train = split(table.task_ids, seed=0).validation
    model = fit(table, config, train, c=0.3)
    assert model.features == FEATURES
    x, y = training_rows(table, config, train)
    assert x.shape == (len(y), len(FEATURES)) and 0 < y.sum() < len(y)
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=2000))
    reference.fit(x, y)
    assert table.records is not None
    for problem in range(0, len(table.task_ids), 7):  # pools of problems it was not trained on
        records = table.records[problem]
        _, seen, tests = table.handed(config, 2, problem)
        candidates = [*seen, *(("M", row) for row in range(2))]
        inputs = verifier_inputs(records, candidates, tests)
        expected = reference.predict_proba(np.array(features(*inputs)))[:, 1]
        assert model.probabilities(*inputs) == pytest.approx(list(expected), abs=1e-9)


def test_the_answer_is_the_models_pick_and_resolves_to_the_step_that_drew_it(
    table: OutcomeTable,
) -> None:
    config = _verified()[0]
    everything = np.arange(len(table.task_ids), dtype=np.intp)
    table.verifier = fit(table, config, everything)
    outcomes = table.per_problem(config)
    assert outcomes.answer_tier is not None
    greedy = len(table.records[0].gens["M"].samples) if table.records else -1
    first, last = outcomes.answer_tier == 0, outcomes.answer_tier == 2
    assert first.any() and last.any() and (outcomes.answer_tier == 1).any()
    assert (outcomes.answer[first] == greedy).all()  # M's greedy answer: its first step
    assert (outcomes.answer[last] < greedy).all()  # M's samples: its last step
    # Another model, other answers: the cached outcomes are keyed by the model.
    flipped = VerifierModel.model_validate(
        {**table.verifier.model_dump(), "coef": tuple(-c for c in table.verifier.coef)}
    )
    table.verifier = flipped
    other = table.per_problem(config)
    assert not np.array_equal(other.correct, outcomes.correct)
    assert np.array_equal(other.cost, outcomes.cost)  # the pick never changes what is drawn
    table.verifier = None


def test_validation_figures_are_out_of_fold(table: OutcomeTable) -> None:
    config = _verified()[0]
    parts = split(table.task_ids, seed=1)
    correct, cost = learned_outcomes(table, config, parts.validation)
    assert table.verifier is None  # restored
    table.verifier = fit(table, config, parts.validation)
    in_sample = table.per_problem(config)
    table.verifier = None
    assert np.array_equal(correct[parts.held_out], in_sample.correct[parts.held_out])
    assert np.array_equal(cost, in_sample.cost)


def test_the_study_chooses_among_verifier_configurations_per_seed(table: OutcomeTable) -> None:
    problems = {p.task_id: p.problem for p in load_dataset("humaneval")}
    studies = run_study(
        table,
        problems,
        seeds=(1,),  # a seed whose validation front has them (not every seed's does)
        option_sets={"verifier": ("verifier",)},
        fractions=(0.3,),
        budget_per_1k=0.12,
    )
    (study,) = studies
    assert study.configurations == len(list(table.configurations())) + 2
    front = study.seeds[0].front
    assert any(c.config.steps[-1][1].verify for c in front)
    assert study.at_budget and study.at_budget[0].config.steps[-1][1].verify
    assert table.verifier is None


def test_the_policy_carries_the_model_inline_and_lists_the_tier_again(table: OutcomeTable) -> None:
    config = _verified()[1]
    model = fit(table, config, np.arange(len(table.task_ids), dtype=np.intp))
    with pytest.raises(ValueError, match="pass its model"):
        to_policy(config, ("S", "M", "L"), max_tokens=384, description="")
    policy = to_policy(config, ("S", "M", "L"), max_tokens=384, description="", verifier=model)
    policy = CascadePolicy.from_yaml(policy.to_yaml())
    assert [(t.tier, t.k) for t in policy.tiers] == [("S", -1), ("M", 1), ("L", 1), ("M", 3)]
    assert policy.verifier == model
    assert to_config(policy) == config
