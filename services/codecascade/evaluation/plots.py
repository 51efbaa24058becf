"""Pareto curves as PNG: each tier alone, and the cascades (matplotlib, imported only here)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from codecascade.evaluation.grid import Point
from codecascade.evaluation.pareto import pareto_front
from codecascade.evaluation.study import Study

__all__ = ["plot_fronts", "plot_study"]


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


def plot_study(studies: Sequence[Study], path: Path, *, title: str) -> Path:
    """Per option set, the configuration chosen by the mean over the seeds at each budget:
    held-out pass@1 against its share of the reference's cost (mean ± spread over the seeds),
    beside the reference and the oracle."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for study in studies:
        rows = [
            (
                [c.cost / r.reference.cost * 100 for r, c in zip(study.seeds, chosen, strict=True)],
                [c.accuracy * 100 for c in chosen],
            )
            for chosen in study.by_mean.values()
            if chosen
        ]
        axes.errorbar(
            [np.mean(x) for x, _ in rows],
            [np.mean(y) for _, y in rows],
            xerr=[np.std(x) for x, _ in rows],
            yerr=[np.std(y) for _, y in rows],
            marker="o",
            markersize=4,
            capsize=2,
            linewidth=2.0 if study.name == "all combined" else 1.0,
            label=study.name,
        )
    seeds = studies[0].seeds
    reference = float(np.mean([r.reference.accuracy for r in seeds])) * 100
    oracle = float(np.mean([r.oracle[0] for r in seeds])) * 100
    label = seeds[0].reference.config.label()
    axes.scatter([100], [reference], marker="*", s=120, color="black", label=label, zorder=5)
    axes.axhline(reference, color="black", linewidth=0.6, linestyle=":")
    axes.axhline(oracle, color="grey", linewidth=0.8, linestyle="--", label="oracle")
    axes.set_xlabel(f"share of {label}'s cost, % (held out)")
    axes.set_ylabel("pass@1 on the hidden tests, % (held out)")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
