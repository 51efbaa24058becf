"""The budget calibrator: a seeded validation split, the front, the choice, the held-out figures.

DESIGN §1: the whole grid is evaluated on a 30 % validation split (seeded), the cost/accuracy
Pareto front is kept, the point that fits the budget is chosen, and it is reported on the other
70 % beside the single-tier baselines, so the figures a user reads were not used to choose.
The choice is written as the policy file the router loads: every tier of the cache is listed,
the ones the cascade does not use with k = -1.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from codecascade.evaluation.grid import Config, OutcomeTable, Point, TierSetting
from codecascade.evaluation.pareto import choose, pareto_front
from codecascade.router.policy import CascadePolicy, PreRouter, TierPolicy
from codecascade.router.prerouter import PreRouterModel
from codecascade.router.verifier import VerifierModel

__all__ = ["Calibration", "Split", "baselines", "calibrate", "split", "to_config", "to_policy"]


@dataclass(frozen=True, slots=True)
class Split:
    validation: npt.NDArray[np.intp]
    held_out: npt.NDArray[np.intp]


def split(task_ids: tuple[str, ...], *, share: float = 0.3, seed: int = 0) -> Split:
    """A seeded validation split (at least one problem on each side when there are two)."""
    n = len(task_ids)
    size = min(max(round(n * share), 1), n - 1) if n > 1 else n
    order = sorted(range(n), key=lambda i: task_ids[i])  # independent of the file's order
    chosen = set(random.Random(seed).sample(order, size))
    validation = np.array(sorted(chosen), dtype=np.intp)
    held_out = np.array([i for i in range(n) if i not in chosen], dtype=np.intp)
    return Split(validation, held_out)


@dataclass(frozen=True, slots=True)
class Calibration:
    budget_per_1k: float
    front: list[Point]  # validation
    chosen: Point  # validation
    held_out: Point  # the chosen configuration on the held-out split
    baselines: list[tuple[Point, Point]]  # single tiers: (validation, held out)
    points: list[Point]  # every configuration on the validation split
    # The paper's headline: the cheapest front point at least as accurate (on validation) as the
    # most expensive tier alone at best of k, and both on the held-out split; None if none is.
    matching: tuple[Point, Point, Point] | None = None  # (chosen, baseline), held out, + validation

    @property
    def configurations(self) -> int:
        return len(self.points)


def baselines(table: OutcomeTable) -> list[Config]:
    """Each tier alone: one greedy answer, and best of k_max with its own tests at l_max."""
    configs = []
    for tier in table.tiers:
        configs.append(Config(((tier, TierSetting(0, 0)),)))
        if table.k_max >= 2 and table.l_max >= 2:
            k = max(k for k in (3, 5, 10) if k <= table.k_max)
            line = max(x for x in (2, 4) if x <= table.l_max)
            configs.append(Config(((tier, TierSetting(k, line)),)))
    return configs


def calibrate(table: OutcomeTable, budget_per_1k: float, *, seed: int = 0) -> Calibration:
    """Runs the whole grid on the validation split and picks the point within the budget."""
    parts = split(table.task_ids, seed=seed)
    points = [table.point(config, parts.validation) for config in table.configurations()]
    front = pareto_front(points)
    chosen = choose(front, budget_per_1k)
    reference = baselines(table)[-1]  # the last tier, best of k with its own tests
    target = table.point(reference, parts.validation)
    cheapest = next((p for p in front if p.accuracy >= target.accuracy), None)
    matching = None
    if cheapest is not None:
        matching = (
            table.point(cheapest.config, parts.held_out),
            table.point(reference, parts.held_out),
            cheapest,
        )
    return Calibration(
        budget_per_1k=budget_per_1k,
        front=front,
        chosen=chosen,
        held_out=table.point(chosen.config, parts.held_out),
        baselines=[
            (table.point(c, parts.validation), table.point(c, parts.held_out))
            for c in baselines(table)
        ],
        points=points,
        matching=matching,
    )


def to_policy(
    config: Config,
    tiers: tuple[str, ...],
    *,
    max_tokens: int,
    description: str,
    prerouter: PreRouterModel | None = None,
    verifier: VerifierModel | None = None,
) -> CascadePolicy:
    """The router's policy file for a configuration; unused tiers are listed with k = -1.

    Entries follow the configuration's steps, in order: a tier it lists twice (its greedy answer
    checked first, `grid._greedy_first`) gets two adjacent entries, a tier listed again after a
    larger one (`grid._verified`) an entry there; an unused tier goes before the first step of a
    tier listed after it in `tiers`. A configuration that skips its first tier by the pre-router
    (`skip`) needs the model that predicted it, and one whose last step picks by the learned
    verifier (`verify`) that model, both written inline."""
    last = len(config.steps) - 1
    position = {tier: i for i, tier in enumerate(tiers)}
    unused = [t for t in tiers if t not in config.tiers]
    entries = []
    for index, (tier, setting) in enumerate(config.steps):
        while unused and position[unused[0]] < position[tier]:
            entries.append(TierPolicy(tier=unused.pop(0), k=-1, max_tokens=max_tokens))
        # θ of a last tier only matters with early exit (when it may answer before k).
        plain_last = index == last and not setting.batch
        theta = 1.0 if plain_last or setting.k == 0 else setting.theta
        entries.append(
            TierPolicy(
                tier=tier,
                k=setting.k,
                test_lines=setting.l,
                test_generations=setting.t,
                threshold=theta,
                max_tokens=max_tokens,
                batch=setting.batch,
                carry_tests=setting.carry,
                select_from_all=setting.union,
            )
        )
    entries += [TierPolicy(tier=t, k=-1, max_tokens=max_tokens) for t in unused]
    router = None
    if config.skip:
        if prerouter is None or prerouter.tier != config.steps[0][0]:
            raise ValueError(f"{config.label()} skips by the pre-router: pass its model")
        router = PreRouter(skip_if_fails=config.skip, model=prerouter)
    verifies = config.steps[-1][1].verify
    if verifies != (verifier is not None):
        raise ValueError(
            f"{config.label()} "
            + ("picks by the learned verifier: pass its model" if verifies else "has no verifier")
        )
    return CascadePolicy(
        tiers=tuple(entries), description=description, prerouter=router, verifier=verifier
    )


def to_config(policy: CascadePolicy) -> Config:
    """The grid point a policy file describes, the inverse of `to_policy`: what the replay test
    and the autoscaler benchmark evaluate a calibrated policy with."""
    active = [t for t in policy.tiers if t.active]
    steps = tuple(
        (
            t.tier,
            TierSetting(
                t.k,
                t.test_lines,
                t.threshold,
                t.test_generations,
                batch=t.batch,
                carry=t.carry_tests,
                union=t.select_from_all,
                verify=policy.verifier is not None and i == len(active) - 1,
            ),
        )
        for i, t in enumerate(active)
    )
    skip = policy.prerouter.skip_if_fails if policy.prerouter is not None else 0.0
    return Config(steps, skip=skip)
