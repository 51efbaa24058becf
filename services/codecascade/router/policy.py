"""The cascade policy: which tiers, in order, with their (k, l, θ), and the limits on overrides.

One schema for one file: the router loads it, `cascade calibrate` writes it, the Helm chart
mounts it as a ConfigMap, and tests parse the chart's copy with this same code. The rules of the
method (DESIGN §1) are checked on load: l = 0 exactly when k <= 0; no tier after a k = 0 tier;
the last tier never has k = 1. k = -1 skips a tier (kept in the file so a calibrated policy can
be read against the full tier list).

A tier may be listed more than once (issue 18): every entry but its last is its greedy answer
(k = 1, verified by its own test lines and/or the carried asserts), its last draws samples
(k >= 2). Adjacent, that checks a tier's greedy answer before its samples ("greedy first": on
HumanEval L's greedy answer, checked by the asserts M kept, settles most of what M hands up for
one call instead of k); after a larger tier, it draws the smaller tier's cheap samples once the
larger one's greedy answer failed, for the learned verifier (`router.verifier`) to choose among
every candidate (docs/results.md).
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
from codecascade.router.verifier import VerifierModel

__all__ = [
    "CascadePolicy",
    "EffectivePlan",
    "OverrideLimits",
    "PolicyError",
    "PreRouter",
    "RequestOverrides",
    "TierPolicy",
    "cap_max_tier",
    "plan",
    "up_to",
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
    """A tier listed more than once: every entry but its last is its greedy answer (k = 1), its
    last entry samples (k >= 2) (module docstring). Skipped entries (k = -1) count too."""
    names = [t.tier for t in tiers]
    for name in dict.fromkeys(names):
        ks = [t.k for t in tiers if t.tier == name]
        if len(ks) > 1 and (any(k != 1 for k in ks[:-1]) or ks[-1] < 2):
            raise ValueError(
                f"tier {name} is listed {len(ks)} times ({names}) with k = {ks}: a tier may be "
                "listed again only with k = 1 in every entry but its last (its greedy answer) "
                "and k >= 2 in its last (its samples)"
            )


def up_to(tiers: Sequence[TierPolicy], name: str) -> tuple[TierPolicy, ...]:
    """The entries of `name` and of the tiers before it (by first appearance): a request's or a
    tenant's highest tier, with every entry of those tiers, wherever listed."""
    order = list(dict.fromkeys(t.tier for t in tiers))
    allowed = set(order[: order.index(name) + 1])
    return tuple(t for t in tiers if t.tier in allowed)


def _greedy_entry(tiers: Sequence[TierPolicy], index: int) -> bool:
    """Whether entry `index` is a tier's greedy answer with a later entry of the same tier."""
    return any(t.tier == tiers[index].tier for t in tiers[index + 1 :])


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
    verifier: VerifierModel | None = Field(
        default=None,
        description="Learned verifier: the last tier (select_from_all) answers with the "
        "candidate of every tier tried that it scores most likely correct (router.verifier).",
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
        if self.verifier is not None and not active[-1].select_from_all:
            raise ValueError(
                f"a verifier chooses among every candidate: the last tier ({active[-1].tier}) "
                "needs select_from_all true"
            )
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
        tiers = list(up_to(tiers, overrides.max_tier))
    updates: dict[str, object] = {}
    if overrides.threshold is not None:
        if not limits.min_threshold <= overrides.threshold <= 1.0:
            raise PolicyError(
                f"threshold must be between {limits.min_threshold} and 1; got {overrides.threshold}"
            )
        updates["threshold"] = overrides.threshold
    if overrides.k is not None and not 1 <= overrides.k <= limits.max_k:
        raise PolicyError(f"k must be between 1 and {limits.max_k}; got {overrides.k}")
    adjusted: list[TierPolicy] = []
    for index, tier in enumerate(tiers):
        greedy = _greedy_entry(tiers, index)
        if overrides.k is not None and overrides.k < 2 and tier.tier in [t.tier for t in adjusted]:
            continue  # one greedy answer per tier was asked for: its first entry gives it
        fields = dict(updates)
        if overrides.k is not None and tier.k > 0 and not greedy:
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
