"""Pareto curves as PNG: each tier alone, and the cascades (matplotlib, imported only here)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from codecascade.evaluation.grid import Point
from codecascade.evaluation.pareto import pareto_front

__all__ = ["plot_fronts"]


def plot_fronts(points: Sequence[Point], path: Path, *, title: str) -> Path:
    """One front per single tier and one for multi-tier cascades, cost on a log axis."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    groups: dict[str, list[Point]] = {}
    for point in points:
        tiers = point.config.tiers
        name = f"{tiers[0]} alone" if len(tiers) == 1 else "cascades"
        groups.setdefault(name, []).append(point)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name in sorted(groups, key=lambda n: (n == "cascades", n)):
        front = pareto_front(groups[name])
        axes.step(
            [p.cost_per_1k for p in front],
            [100 * p.accuracy for p in front],
            where="post",
            marker="o",
            markersize=3,
            label=name,
            linewidth=2.0 if name == "cascades" else 1.2,
        )
    axes.set_xscale("log")
    axes.set_xlabel("cost, $ per 1000 problems (generated tokens x tier price)")
    axes.set_ylabel("pass@1 on the hidden tests, %")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
