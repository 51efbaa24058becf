"""The cascade policy: which tiers, in order, with their (k, l, θ), and the limits on overrides.

One schema for one file: the router loads it, `cascade calibrate` writes it, the Helm chart
mounts it as a ConfigMap, and tests parse the chart's copy with this same code. The rules of the
method (DESIGN §1) are checked on load: l = 0 exactly when k <= 0; no tier after a k = 0 tier;
the last tier never has k = 1. k = -1 skips a tier (kept in the file so a calibrated policy can
be read against the full tier list).

A tier may be listed twice, in two adjacent entries, to check its greedy answer before drawing
its samples (issue 18, "greedy first"): the first entry has k = 1 (one greedy answer, verified by
its own test lines and/or the carried asserts), the second k >= 2. On HumanEval the larger
tier's greedy answer, checked by the asserts the smaller tier kept, settles most of what the
smaller tier hands up, for one call instead of k (docs/results.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from codecascade.core.errors import InvalidInput, PermissionDenied
from codecascade.core.task import Problem
from codecascade.router.prerouter import PreRouterModel

__all__ = [
    "CascadePolicy",
    "EffectivePlan",
    "OverrideLimits",
    "PolicyError",
    "PreRouter",
    "RequestOverrides",
    "TierPolicy",
    "cap_max_tier",
    "last_index",
    "plan",
]


class PolicyError(InvalidInput):
    """The policy file, or a request's overrides, break a rule; the message says which."""


class TierPolicy(BaseModel):
    """How one tier takes part in the cascade."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tier: str = Field(min_length=1, description="Name of a configured tier endpoint.")
    k: int = Field(ge=-1, le=64, description="Solutions: -1 skips the tier, 0 = greedy untested.")
    test_lines: int = Field(default=0, ge=0, le=20, description="Assert lines l per generation.")
    test_generations: int = Field(
        default=0, ge=0, le=64, description="Test generations t when k >= 2; 0 means t = k."
    )
    threshold: float = Field(default=1.0, ge=0.0, le=1.0, description="Acceptance threshold θ.")
    max_tokens: int = Field(default=512, ge=16, le=8192, description="Tokens per solution.")
    temperature: float = Field(default=0.8, ge=0.0, le=2.0, description="Sampling when k > 1.")
    top_p: float = Field(default=0.95, gt=0.0, le=1.0, description="Nucleus sampling when k > 1.")
    when_cold: Literal["wait", "answer_best"] = Field(
        default="answer_best",
        description="When the tier has no ready replica (scaled to zero, starting): answer at "
        "once with the best earlier answer, marked cold_tier (answer_best), or wait for it "
        "within the request's deadline, streaming TierWaking (wait). docs/autoscaler.md.",
    )
    # Options beyond the paper (issue 18; docs/policy.md). The offline grid evaluates each.
    batch: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Early exit: samples drawn this many at a time (k >= 3); the tier stops as "
        "soon as its verdict is decided. 0 draws all k in one request.",
    )
    carry_tests: bool = Field(
        default=False,
        description="Verify with the asserts every earlier tier kept, after this tier's own "
        "(test_lines may then be 0: no tests of its own).",
    )
    select_from_all: bool = Field(
        default=False,
        description="Last tier: answer with the best candidate of every tier tried, scored "
        "against every tier's tests.",
    )

    @model_validator(mode="after")
    def _lines_match_k(self) -> Self:
        if self.k <= 0 and self.test_lines != 0:
            raise ValueError(f"tier {self.tier}: test_lines must be 0 when k is {self.k}")
        if self.k > 0 and self.test_lines == 0 and not self.carry_tests:
            raise ValueError(
                f"tier {self.tier}: test_lines must be at least 1 when k > 0 (or carry_tests "
                "true, to verify with the earlier tiers' tests only)"
            )
        if self.batch and self.k < 2:
            raise ValueError(f"tier {self.tier}: batch (early exit) needs k >= 2, not {self.k}")
        if self.test_generations and self.k < 2:
            raise ValueError(
                f"tier {self.tier}: test_generations applies to sampled tiers (k >= 2), "
                f"not k = {self.k} (a k = 1 tier writes one greedy test generation)"
            )
        if self.test_lines == 0 and self.test_generations:
            raise ValueError(f"tier {self.tier}: test_generations needs test_lines >= 1")
        return self

    @property
    def generations(self) -> int:
        """How many test generations the tier writes: t, or k when t is unset or k < 2 (a
        request may lower k to 1, and a k = 1 tier writes one greedy generation)."""
        return self.test_generations if self.k >= 2 and self.test_generations else self.k

    @property
    def active(self) -> bool:
        return self.k >= 0


class OverrideLimits(BaseModel):
    """What a request may change; the server's operator sets these."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_k: int = Field(default=10, ge=1, le=64, description="Largest k a request may ask for.")
    min_threshold: float = Field(default=0.0, ge=0, le=1, description="Lowest θ allowed.")
    max_deadline_s: float = Field(default=600.0, gt=0, description="Longest request allowed.")
    default_deadline_s: float = Field(default=300.0, gt=0, description="When none is given.")
    max_cost_usd: float = Field(default=1.0, ge=0, description="Largest cost cap allowed.")


class PreRouter(BaseModel):
    """The learned pre-router (router.prerouter): its model, inline, and when it skips."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    skip_if_fails: float = Field(
        gt=0.0, le=1.0, description="Skip the model's tier when P(it fails) is at least this."
    )
    model: PreRouterModel

    def skips(self, problem: Problem) -> bool:
        return self.model.failure_probability(problem) >= self.skip_if_fails


def _check_repeats(tiers: Sequence[TierPolicy]) -> None:
    """A tier listed more than once is only its greedy answer checked first: two adjacent
    entries, the first k = 1 and the second k >= 2 (module docstring)."""
    names = [t.tier for t in tiers]
    for name in dict.fromkeys(names):
        places = [i for i, n in enumerate(names) if n == name]
        if len(places) == 1:
            continue
        first, second = (tiers[i] for i in places[:2])
        if len(places) > 2 or places[1] != places[0] + 1 or first.k != 1 or second.k < 2:
            raise ValueError(
                f"tier {name} appears {len(places)} times ({names}): a tier may be listed twice "
                "only in two adjacent entries, the first with k = 1 (its greedy answer checked "
                f"first) and the second with k >= 2; got k = {[tiers[i].k for i in places]}"
            )


def last_index(tiers: Sequence[TierPolicy], name: str) -> int:
    """The position of `name`'s last entry (a tier listed twice runs up to its samples)."""
    return max(i for i, t in enumerate(tiers) if t.tier == name)


class CascadePolicy(BaseModel):
    """The whole policy file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(default=1, description="Schema version of this file.")
    tiers: tuple[TierPolicy, ...] = Field(min_length=1, description="Tiers, cheapest first.")
    limits: OverrideLimits = Field(default_factory=OverrideLimits)
    description: str = Field(default="", description="Where this policy came from.")
    prerouter: PreRouter | None = Field(
        default=None, description="Learned pre-router: skip a tier predicted to fail."
    )

    @model_validator(mode="after")
    def _method_rules(self) -> Self:
        active = [t for t in self.tiers if t.active]
        if not active:
            raise ValueError("every tier is skipped (k = -1): at least one must answer")
        _check_repeats(self.tiers)
        for earlier in active[:-1]:
            if earlier.k == 0:
                raise ValueError(
                    f"tier {earlier.tier} has k = 0 (accepted untested) so no tier may follow it"
                )
        if active[-1].k == 1 and len(active) > 1:
            raise ValueError(
                f"the last tier ({active[-1].tier}) has k = 1: use k = 0 for an untested answer "
                "or k >= 2 so its tests can choose"
            )
        if active[0].k > 0 and active[0].test_lines == 0:
            raise ValueError(
                f"tier {active[0].tier} is the first: there are no earlier tests to carry, so "
                "test_lines must be at least 1"
            )
        for tier in active[:-1]:
            if tier.select_from_all:
                raise ValueError(f"tier {tier.tier}: select_from_all applies to the last tier")
        if self.prerouter is not None:
            skipped = self.prerouter.model.tier
            if skipped not in [t.tier for t in active[:-1]] or skipped == active[-1].tier:
                raise ValueError(
                    f"the pre-router skips tier {skipped}, which is not an active tier before "
                    f"the last ({[t.tier for t in active[:-1]]})"
                )
        return self

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "policy") -> CascadePolicy:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PolicyError(f"{source}: not valid YAML: {exc}") from exc
        try:
            return cls.model_validate(document)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'policy'}: {e['msg']}"
                for e in exc.errors()
            )
            raise PolicyError(f"{source}: {problems}") from exc

    @classmethod
    def load(cls, path: Path) -> CascadePolicy:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(f"cannot read the policy file {path}: {exc.strerror}") from exc
        return cls.from_yaml(text, source=str(path))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    def check_tiers(self, configured: Sequence[str]) -> None:
        """Every active tier must have an endpoint; says which are missing."""
        missing = [t.tier for t in self.tiers if t.active and t.tier not in configured]
        if missing:
            raise PolicyError(
                f"the policy uses tiers with no endpoint configured: {missing} "
                f"(configured: {list(configured)})"
            )


@dataclass(frozen=True, slots=True)
class RequestOverrides:
    """What one request asked to change; None means "as configured"."""

    max_tier: str = ""
    threshold: float | None = None
    k: int | None = None
    cost_cap_usd: float | None = None
    deadline_s: float | None = None


@dataclass(frozen=True, slots=True)
class EffectivePlan:
    """The tiers one request will try, and its budget."""

    tiers: tuple[TierPolicy, ...]
    cost_cap_usd: float | None
    deadline_s: float | None  # the request's own override, if any


def plan(policy: CascadePolicy, overrides: RequestOverrides) -> EffectivePlan:
    """Applies a request's overrides to the policy; raises PolicyError when one is out of bounds."""
    limits = policy.limits
    tiers = [t for t in policy.tiers if t.active]
    if overrides.max_tier:
        names = [t.tier for t in tiers]
        if overrides.max_tier not in names:
            raise PolicyError(f"max_tier {overrides.max_tier!r} is not an active tier {names}")
        tiers = tiers[: last_index(tiers, overrides.max_tier) + 1]
    updates: dict[str, object] = {}
    if overrides.threshold is not None:
        if not limits.min_threshold <= overrides.threshold <= 1.0:
            raise PolicyError(
                f"threshold must be between {limits.min_threshold} and 1; got {overrides.threshold}"
            )
        updates["threshold"] = overrides.threshold
    if overrides.k is not None and not 1 <= overrides.k <= limits.max_k:
        raise PolicyError(f"k must be between 1 and {limits.max_k}; got {overrides.k}")
    adjusted = []
    for index, tier in enumerate(tiers):
        greedy_first = index + 1 < len(tiers) and tiers[index + 1].tier == tier.tier
        if greedy_first and overrides.k is not None and overrides.k < 2:
            continue  # the request asked for one greedy answer: the next entry is that answer
        fields = dict(updates)
        if overrides.k is not None and tier.k > 0 and not greedy_first:
            fields["k"] = overrides.k
            if overrides.k < 2:
                fields["batch"] = 0  # one greedy answer: nothing to draw in batches
        adjusted.append(tier.model_copy(update=fields) if fields else tier)
    if overrides.cost_cap_usd is not None and not 0 < overrides.cost_cap_usd <= limits.max_cost_usd:
        raise PolicyError(
            f"cost_cap_usd must be above 0 and at most {limits.max_cost_usd}; "
            f"got {overrides.cost_cap_usd}"
        )
    deadline = overrides.deadline_s
    if deadline is not None and not 0 < deadline <= limits.max_deadline_s:
        raise PolicyError(f"deadline must be above 0 and at most {limits.max_deadline_s} s")
    return EffectivePlan(tuple(adjusted), overrides.cost_cap_usd, deadline)


def cap_max_tier(
    policy: CascadePolicy, overrides: RequestOverrides, ceiling: str, *, who: str
) -> RequestOverrides:
    """The overrides with `max_tier` no higher than `ceiling` (a tenant's highest allowed tier);
    raises PermissionDenied when the ceiling is not a tier of the policy."""
    if not ceiling:
        return overrides
    names = [t.tier for t in policy.tiers if t.active]
    if ceiling not in names:
        raise PermissionDenied(
            f"{who} may use tiers up to {ceiling!r}, which this router's policy does not have "
            f"({names}): the operator must fix the tenant's max_tier"
        )
    asked = overrides.max_tier
    if asked in names and names.index(asked) <= names.index(ceiling):  # first entries: in order
        return overrides
    return replace(overrides, max_tier=ceiling)
