"""The cost/accuracy Pareto front, and the point that fits a budget.

A point is on the front when no other point is at most as expensive and more accurate. Ties are
broken deterministically (cheaper, then fewer tiers and smaller settings, then the label), so the
same cache always gives the same front and the same choice.
"""

from __future__ import annotations

from collections.abc import Iterable

from codecascade.evaluation.errors import NothingFits
from codecascade.evaluation.grid import Point

__all__ = ["choose", "pareto_front", "pareto_order"]


def pareto_order(point: Point) -> tuple[float, float, int, tuple[object, ...], str]:
    """The front's order: cheaper, more accurate, fewer tiers, smaller settings, label."""
    settings = tuple(
        (s.k, s.l, s.t, -s.theta, s.batch, s.carry, s.union) for _, s in point.config.steps
    )
    return (
        point.cost_per_1k,
        -point.accuracy,
        len(point.config.steps),
        settings,
        point.config.label(),
    )


def pareto_front(points: Iterable[Point]) -> list[Point]:
    """Points no other beats on both cost (lower) and accuracy (higher); cheapest first."""
    front: list[Point] = []
    for point in sorted(points, key=pareto_order):
        if not front or point.accuracy > front[-1].accuracy:
            front.append(point)
    return front


def choose(front: list[Point], budget_per_1k: float) -> Point:
    """The most accurate front point whose cost is within the budget (dollars per 1k problems)."""
    fitting = [p for p in front if p.cost_per_1k <= budget_per_1k]
    if not fitting:
        cheapest = min(front, key=pareto_order) if front else None
        detail = f"; the cheapest costs ${cheapest.cost_per_1k:.4f}" if cheapest else ""
        raise NothingFits(
            f"no configuration costs at most ${budget_per_1k:g} per 1k problems{detail}"
        )
    return max(fitting, key=lambda p: (p.accuracy, -p.cost_per_1k))
