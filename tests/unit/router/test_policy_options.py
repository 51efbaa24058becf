"""The policy file's options beyond the paper (issue 18): what loads, what is refused and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from codecascade.core.errors import InvalidInput
from codecascade.core.task import Problem
from codecascade.router.policy import CascadePolicy, PolicyError, RequestOverrides, plan
from codecascade.router.prerouter import FEATURES, MODEL_VERSION, PreRouterModel, features
from codecascade.router.solutions import sampling_for

PROBLEM = Problem(
    'def add(a: int, b: int) -> int:\n    """Add.\n    >>> add(1, 2)\n    3\n    """\n',
    "add",
    "humaneval",
)


def _model(tier: str = "M", **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "version": MODEL_VERSION,
        "tier": tier,
        "features": list(FEATURES),
        "mean": [0.0] * len(FEATURES),
        "scale": [1.0] * len(FEATURES),
        "coef": [0.1] * len(FEATURES),
        "intercept": -0.5,
    }
    return {**data, **changes}


def _policy(m: str, l_tier: str, prerouter: str = "") -> CascadePolicy:
    return CascadePolicy.from_yaml(f"tiers:\n  - {m}\n  - {l_tier}\n{prerouter}", source="p.yaml")


def test_carried_tests_let_a_later_tier_write_none_of_its_own() -> None:
    policy = _policy(
        "{tier: M, k: 3, test_lines: 2, threshold: 0.8, batch: 1}",
        "{tier: L, k: 5, test_lines: 0, carry_tests: true, select_from_all: true}",
    )
    last = policy.tiers[-1]
    assert last.carry_tests and last.select_from_all and last.test_lines == 0


@pytest.mark.parametrize(
    ("m", "l_tier", "message"),
    [
        ("{tier: M, k: 3, test_lines: 2}", "{tier: L, k: 5, test_lines: 0}", "carry_tests true"),
        (
            "{tier: M, k: 3, test_lines: 0, carry_tests: true}",
            "{tier: L, k: 5, test_lines: 2}",
            "no earlier tests to carry",
        ),
        ("{tier: M, k: 1, test_lines: 2, batch: 1}", "{tier: L, k: 5, test_lines: 2}", "k >= 2"),
        (
            "{tier: M, k: 3, test_lines: 2, select_from_all: true}",
            "{tier: L, k: 5, test_lines: 2}",
            "applies to the last tier",
        ),
    ],
)
def test_options_that_break_a_rule_are_refused_with_the_rule(
    m: str, l_tier: str, message: str
) -> None:
    with pytest.raises(PolicyError, match=message):
        _policy(m, l_tier)


def test_the_pre_router_must_skip_an_active_tier_before_the_last() -> None:
    model = _model("L")
    text = f"prerouter: {{skip_if_fails: 0.7, model: {model}}}\n"
    with pytest.raises(PolicyError, match="not an active tier before the last"):
        _policy("{tier: M, k: 1, test_lines: 2}", "{tier: L, k: 5, test_lines: 2}", text)


def test_a_pre_router_model_of_another_version_or_features_is_refused(tmp_path: Path) -> None:
    import json

    for bad, message in (
        (_model(version=MODEL_VERSION + 1), "model version"),
        (_model(features=["x"] * len(FEATURES)), "this router computes"),
        (_model(scale=[0.0] * len(FEATURES)), "positive"),
    ):
        path = tmp_path / "model.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(InvalidInput, match=message):
            PreRouterModel.load(path)
    with pytest.raises(InvalidInput, match="cannot read"):
        PreRouterModel.load(tmp_path / "missing.json")


def test_the_pre_router_reads_the_prompt_and_skips_above_its_threshold() -> None:
    assert len(features(PROBLEM)) == len(FEATURES)
    model = PreRouterModel.model_validate(_model())
    probability = model.failure_probability(PROBLEM)
    assert 0.0 < probability < 1.0
    text = f"prerouter: {{skip_if_fails: {probability:.6f}, model: {_model()}}}\n"
    policy = _policy("{tier: M, k: 1, test_lines: 2}", "{tier: L, k: 5, test_lines: 2}", text)
    assert policy.prerouter is not None
    assert policy.prerouter.skips(PROBLEM) == (probability >= round(probability, 6))


def test_a_batch_of_one_samples_but_a_request_lowering_k_to_one_is_greedy() -> None:
    policy = _policy(
        "{tier: M, k: 3, test_lines: 2, batch: 1}", "{tier: L, k: 5, test_lines: 2, batch: 2}"
    )
    batch = policy.tiers[0].model_copy(update={"k": 1})
    assert sampling_for(batch, seed=7).temperature == pytest.approx(0.8)
    lowered = plan(policy, RequestOverrides(k=1)).tiers[0]
    assert lowered.batch == 0 and sampling_for(lowered, seed=7).temperature == 0.0


GREEDY_FIRST = (
    "tiers:\n"
    "  - {tier: M, k: 1, test_lines: 2}\n"
    "  - {tier: L, k: 1, test_lines: 0, carry_tests: true}\n"
    "  - {tier: L, k: 5, test_lines: 0, threshold: 0.4, batch: 2, carry_tests: true}\n"
)


def test_a_tier_listed_twice_checks_its_greedy_answer_before_its_samples() -> None:
    policy = CascadePolicy.from_yaml(GREEDY_FIRST)
    assert [(t.tier, t.k) for t in policy.tiers] == [("M", 1), ("L", 1), ("L", 5)]
    # max_tier L runs up to L's samples; M stops before both of L's entries.
    assert [t.k for t in plan(policy, RequestOverrides(max_tier="L")).tiers] == [1, 1, 5]
    assert [t.tier for t in plan(policy, RequestOverrides(max_tier="M")).tiers] == ["M"]
    # A request's k replaces every tier's k but not L's greedy entry; k = 1 leaves one greedy
    # answer of L (its second entry, with its carried asserts).
    assert [t.k for t in plan(policy, RequestOverrides(k=3)).tiers] == [3, 1, 3]
    lowered = plan(policy, RequestOverrides(k=1)).tiers
    assert [(t.tier, t.k, t.batch, t.carry_tests) for t in lowered] == [
        ("M", 1, 0, False),
        ("L", 1, 0, True),
    ]


@pytest.mark.parametrize(
    "tiers",
    [
        "[{tier: M, k: 1, test_lines: 2}, {tier: L, k: 5, test_lines: 2}, "
        "{tier: L, k: 1, test_lines: 2}, {tier: L, k: 5, test_lines: 2}]",
        "[{tier: L, k: 3, test_lines: 2}, {tier: M, k: 3, test_lines: 2}, "
        "{tier: L, k: 5, test_lines: 2}]",
        "[{tier: M, k: 1, test_lines: 2}, {tier: L, k: 3, test_lines: 2}, "
        "{tier: L, k: 5, test_lines: 2}]",
        "[{tier: M, k: 1, test_lines: 2}, {tier: L, k: 1, test_lines: 2}, {tier: L, k: 0}]",
    ],
    ids=["three times", "sampled twice", "first not greedy", "second not sampled"],
)
def test_a_tier_listed_twice_otherwise_is_refused_with_the_rule(tiers: str) -> None:
    with pytest.raises(PolicyError, match="listed again only with k = 1"):
        CascadePolicy.from_yaml(f"tiers: {tiers}\n")


def test_the_pre_router_never_skips_the_tier_that_answers_last() -> None:
    text = GREEDY_FIRST + f"prerouter: {{skip_if_fails: 0.7, model: {_model('L')}}}\n"
    with pytest.raises(PolicyError, match="not an active tier before the last"):
        CascadePolicy.from_yaml(text)
