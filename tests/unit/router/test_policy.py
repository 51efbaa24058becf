"""Test generations t in the policy: separate from k, only for sampled tiers."""

from __future__ import annotations

import pytest

from codecascade.router.policy import (
    CascadePolicy,
    PolicyError,
    RequestOverrides,
    TierPolicy,
    plan,
)


def test_t_defaults_to_k_and_can_be_set_for_sampled_tiers() -> None:
    assert TierPolicy(tier="L", k=3, test_lines=4).generations == 3
    assert TierPolicy(tier="L", k=3, test_lines=4, test_generations=5).generations == 5
    assert TierPolicy(tier="L", k=1, test_lines=4).generations == 1


@pytest.mark.parametrize("k", [0, 1])
def test_t_is_refused_where_no_tests_are_sampled(k: int) -> None:
    text = (
        "tiers:\n"
        f"  - {{tier: S, k: {k}, test_lines: {4 if k else 0}, test_generations: 5}}\n"
        "  - {tier: L, k: 3, test_lines: 4}\n"
    )
    with pytest.raises(PolicyError, match="test_generations applies to sampled tiers"):
        CascadePolicy.from_yaml(text, source="policy.yaml")


def test_a_request_lowering_k_to_one_gets_one_greedy_generation() -> None:
    policy = CascadePolicy(
        tiers=(
            TierPolicy(tier="M", k=3, test_lines=4, test_generations=5, threshold=0.9),
            TierPolicy(tier="L", k=3, test_lines=4),
        )
    )
    lowered = plan(policy, RequestOverrides(k=1)).tiers[0]
    assert (lowered.k, lowered.generations) == (1, 1)
    assert CascadePolicy.from_yaml(policy.to_yaml(), source="x") == policy
