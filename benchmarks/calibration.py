"""How much a calibration from one cache can be trusted, and what the cache cost to make.

Reads a `cascade eval` cache only (seconds). Prints, per tier, the wall time of its generation
pass; the Pareto front over every configuration on all problems (no split: it flatters the best
point, and shows what the grid can do at best); and, for several validation-split seeds, whether
any validation-front point matches the last tier alone (best of k with its own tests) on the
held-out problems, and at what cost. The published figures come from:

    python benchmarks/calibration.py --cache benchmarks/results/eval-humaneval
"""

from __future__ import annotations

import argparse
from pathlib import Path

from codecascade.evaluation.cache import EvalCache
from codecascade.evaluation.calibrate import baselines, split
from codecascade.evaluation.grid import OutcomeTable
from codecascade.evaluation.pareto import pareto_front


def generation_hours(cache: EvalCache, tier: str) -> float:
    seconds = 0.0
    for record in cache.generations(tier).values():
        seconds += sum(call.wall_s for call in (*record.samples, record.greedy))
        tests = (*record.test_generations, record.greedy_tests)
        seconds += sum(generation.wall_s for generation in tests)
    return seconds / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True, help="cache directory of `cascade eval`")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--min-accuracy", type=float, default=0.7, help="front points shown")
    args = parser.parse_args()

    cache = EvalCache.load(Path(args.cache))
    table = OutcomeTable.from_cache(cache)
    print(f"{len(table.task_ids)} problems, tiers {' '.join(table.tiers)}")
    for tier in table.tiers:
        print(f"  generation pass {tier}: {generation_hours(cache, tier):.2f} h wall")

    reference = baselines(table)[-1]
    every = [table.point(config) for config in table.configurations()]
    whole = table.point(reference)
    print(
        f"\nall problems, no split: {reference.label()} {whole.accuracy:.1%} "
        f"${whole.cost_per_1k:.4f}/1k; front points at >= {args.min_accuracy:.0%}:"
    )
    for point in pareto_front(every):
        if point.accuracy >= args.min_accuracy:
            print(
                f"  {point.config.label():<32} {point.accuracy:6.1%}  ${point.cost_per_1k:.4f}/1k"
                f"  cost ratio {point.cost_per_1k / whole.cost_per_1k:.2f}  {point.cpu_s:.1f} CPU-s"
            )

    print(
        f"\nper split seed: cheapest validation-front point matching {reference.label()} held out"
    )
    for seed in args.seeds:
        parts = split(table.task_ids, seed=seed)
        front = pareto_front([table.point(c, parts.validation) for c in table.configurations()])
        target = table.point(reference, parts.held_out)
        held = [table.point(p.config, parts.held_out) for p in front]
        matching = [p for p in held if p.accuracy >= target.accuracy]
        line = f"  seed {seed}: {reference.label()} {target.accuracy:.1%} ${target.cost_per_1k:.4f}"
        if matching:
            best = min(matching, key=lambda p: p.cost_per_1k)
            line += (
                f"; {best.config.label()} {best.accuracy:.1%} ${best.cost_per_1k:.4f}"
                f" (cost ratio {best.cost_per_1k / target.cost_per_1k:.2f})"
            )
        else:
            line += "; none of the front matches it"
        print(line)


if __name__ == "__main__":
    main()
