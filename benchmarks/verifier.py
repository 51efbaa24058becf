"""A learned verifier picking the answer of an M → L → M-samples cascade (offline, cached).

Target 2 asks for held-out pass@1 >= 78 % at <= 20 % of the reference L(k5 l4)'s cost. The
product's grid tops out at 75.7 % there (M(k1 l2 θ1.0) → L(k0)): its agreement rule picks
badly among a handful of candidates checked against few tests. This script measures a structure
that reaches the target when a small logistic regression picks the answer instead:

    M(k1 l2 θ1.0)  →  L's greedy answer against M's kept asserts (l0, θ1.0: it answers when it
    passes them all)  →  up to m M samples against the same asserts, drawn one at a time,
    stopping at the first that passes them all  →  the answer is whichever of {L greedy,
    M greedy, drawn samples} the verifier scores most likely correct.

The first two steps are the product's cascade (checked against `OutcomeTable.per_problem`);
the tests are the product's (`kept_tests`), every score is `core.decision.agreement`, every
split `calibrate.split`. Per seed the verifier is trained on the validation split only and
scores the held-out problems; its validation figures come from out-of-fold predictions grouped
by problem, so choosing m and C on them does not peek at the held-out problems. Decisions use
run-time data only (candidates, kept asserts, pass cells, tokens); the hidden test scores the
answer and labels the verifier's training rows. The published figures come from:

    python benchmarks/verifier.py --out docs/results/verifier.md
"""

from __future__ import annotations

import argparse
import math
import re
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from codecascade.core.decision import accepts, agreement
from codecascade.core.usage import token_cost
from codecascade.evaluation.cache import EvalCache
from codecascade.evaluation.calibrate import Split, baselines, split
from codecascade.evaluation.grid import Config, OutcomeTable, TierSetting
from codecascade.evaluation.options import ProblemRecords, kept_tests, test_tokens

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Candidate = tuple[str, int]  # (tier, cache row: samples first, then the greedy answer)
Pick = Callable[[int, Sequence[Candidate]], int]  # (problem, pool) -> index of the answer

LOW, HIGH = "M", "L"
# The product's best configuration within 20 % (and the structure's first two steps' cost).
PRODUCT = Config(((LOW, TierSetting(1, 2, 1.0)), (HIGH, TierSetting(0, 0))))
MS = (1, 2, 3)  # most M samples drawn after L's greedy answer fails
CS = (0.03, 0.1, 0.3, 1.0, 3.0)  # the verifier's inverse regularisation
FIXED = (2, 0.3)  # (m, C) fixed a priori (the exploration's choice)
FOLDS = 5
FEATURES = (  # one name per column of `features`, in order
    *("share of kept tests passed", "share of the task's examples passed"),
    *("share of generated asserts passed", "no examples", "no generated asserts"),
    *("passes every test", "agreement score in the pool"),
    *("share of the pool with the same pass pattern", "share of the pool with the same code"),
    *("is L", "is a greedy answer", "log tokens", "log code length"),
)


@dataclass(frozen=True)
class Problem:
    """One problem as the structure meets it: what M and L decided, and M's samples in order."""

    records: ProblemRecords
    tests: tuple[str, ...]  # M's kept asserts (examples first): every test the cascade has
    examples: tuple[str, ...]  # the task's own examples (from the prompt)
    accepted: bool  # M's greedy answer passed every kept test: the request ends at M
    passes_high: bool  # L's greedy answer passed every kept test: it answers
    prefix_cost: float  # dollars for M (answer and tests) and, when reached, L's greedy answer
    samples: tuple[Candidate, ...]  # M's samples, in the order they would be drawn
    sample_costs: tuple[float, ...]

    def greedy(self, tier: str) -> Candidate:
        return (tier, len(self.records.gens[tier].samples))

    def call(self, candidate: Candidate) -> tuple[str, int]:
        """The candidate's (code, generated tokens)."""
        gen = self.records.gens[candidate[0]]
        row = candidate[1]
        call = gen.greedy if row == len(gen.samples) else gen.samples[row]
        return call.code, call.tokens

    def matrix(self, pool: Sequence[Candidate], tests: Sequence[str]) -> list[list[bool]]:
        return [[self.records.passes(tier, row, test) for test in tests] for tier, row in pool]

    def passes_all(self, candidate: Candidate) -> bool:
        """θ = 1.0 on a single answer: accepted when it passes every kept test (none: never)."""
        scored = agreement(self.matrix([candidate], self.tests))
        return bool(accepts(scored.score, scored.passed_any, 1.0))

    def drawn(self, m: int) -> tuple[Candidate, ...]:
        """The samples drawn one at a time, up to m, stopping at the first passing every test."""
        for count, sample in enumerate(self.samples[:m], start=1):
            if self.passes_all(sample):
                return self.samples[:count]
        return self.samples[:m]

    def pool(self, drawn: int) -> list[Candidate]:
        return [self.greedy(HIGH), self.greedy(LOW), *self.samples[:drawn]]


def prepare(table: OutcomeTable, index: int, draws: int) -> Problem:
    """The structure's first two steps on one problem, priced like the product prices them."""
    assert table.records is not None
    records = table.records[index]
    tests = kept_tests(records, LOW, 1, 2, 0)
    exe = records.exes[LOW]
    gens = records.gens[LOW]
    tokens = gens.greedy.tokens + test_tokens(records, LOW, 1, 2, 0)[0]
    problem = Problem(
        records=records,
        tests=tests,
        examples=tuple(exe.columns[c] for c in exe.example_columns),
        accepted=False,
        passes_high=False,
        prefix_cost=token_cost(float(tokens), table.prices[LOW]),
        samples=tuple((LOW, row) for row in range(draws)),
        sample_costs=tuple(token_cost(float(s.tokens), table.prices[LOW]) for s in gens.samples),
    )
    if problem.passes_all(problem.greedy(LOW)):
        return replace(problem, accepted=True)
    high = token_cost(float(records.gens[HIGH].greedy.tokens), table.prices[HIGH])
    return replace(
        problem,
        passes_high=problem.passes_all(problem.greedy(HIGH)),
        prefix_cost=problem.prefix_cost + high,
    )


def normalised(code: str) -> str:
    """Code without comments and with whitespace collapsed, so trivially equal answers match."""
    return re.sub(r"\s+", " ", re.sub(r"#.*", "", code)).strip()


def features(problem: Problem, pool: Sequence[Candidate]) -> FloatArray:
    """One row per candidate (FEATURES): how it fares on the kept tests, how much the pool
    agrees with it, and what it is. Only what the router knows at run time."""
    examples = list(problem.examples)
    generated = [t for t in problem.tests if t not in problem.examples]
    tests = examples + generated
    matrix = problem.matrix(pool, tests)
    n, width = len(pool), max(len(tests), 1)
    per_test = [sum(row[j] for row in matrix) for j in range(len(tests))]
    codes = [problem.call(c) for c in pool]
    shapes = [normalised(code) for code, _ in codes]
    rows = []
    for i, (tier, row) in enumerate(pool):
        on_examples, on_generated = sum(matrix[i][: len(examples)]), sum(matrix[i][len(examples) :])
        passed = on_examples + on_generated
        # The candidate's best cell, as core.decision.agreement scores the pool's best one.
        best = max((per_test[j] for j in range(len(tests)) if matrix[i][j]), default=0)
        rows.append(
            [
                passed / width,
                on_examples / max(len(examples), 1),
                on_generated / max(len(generated), 1),
                float(not examples),
                float(not generated),
                float(bool(tests) and passed == len(tests)),
                passed * best / (width * n),
                (sum(other == matrix[i] for other in matrix) - 1) / n,
                (sum(other == shapes[i] for other in shapes) - 1) / n,
                float(tier == HIGH),
                float(row == len(problem.records.gens[tier].samples)),
                math.log1p(codes[i][1]),
                math.log1p(len(shapes[i])),
            ]
        )
    return np.array(rows, dtype=np.float64)


def verifier(c: float) -> Pipeline:
    """Standardised logistic regression: 13 features and a few hundred rows per seed leave no
    room for anything larger (a boosted-tree variant did no better in the exploration)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))


def probabilities(
    feats: list[list[FloatArray]], labels: list[list[BoolArray]], parts: Split, c: float
) -> list[list[FloatArray]]:
    """P(correct) per problem and pool size: out-of-fold (grouped by problem) on validation,
    from the model fitted on the whole validation split on every other problem.

    Training rows are every validation problem's candidates in every pool size, including
    problems the cascade answers earlier: the features are defined for any pool, and ~50
    problems per split would otherwise leave ~15 that reach the verifier.
    """
    keys = [(int(i), d) for i in parts.validation for d in range(len(feats[0]))]
    x = np.vstack([feats[i][d] for i, d in keys])
    y = np.concatenate([labels[i][d] for i, d in keys])
    groups = np.concatenate([np.full(len(labels[i][d]), i) for i, d in keys])
    oof = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=FOLDS).split(x, y, groups):
        oof[test] = verifier(c).fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    everything = np.vstack([f for row in feats for f in row])
    full = verifier(c).fit(x, y).predict_proba(everything)[:, 1]
    sizes = [len(f) for row in feats for f in row]
    flat = np.split(full, np.cumsum(sizes)[:-1])
    out = [flat[i * len(feats[0]) : (i + 1) * len(feats[0])] for i in range(len(feats))]
    start = 0
    for i, d in keys:
        out[i][d] = oof[start : start + len(labels[i][d])]
        start += len(labels[i][d])
    return out


def structure(problems: Sequence[Problem], m: int, pick: Pick) -> tuple[BoolArray, FloatArray]:
    """Per problem: whether the structure's answer passes the hidden test, and its cost."""
    correct, cost = np.zeros(len(problems), dtype=np.bool_), np.zeros(len(problems))
    for i, p in enumerate(problems):
        cost[i] = p.prefix_cost
        if p.accepted or p.passes_high:
            answer = p.greedy(LOW if p.accepted else HIGH)
        else:
            drawn = p.drawn(m)
            cost[i] += sum(p.sample_costs[: len(drawn)])
            pool = p.pool(len(drawn))
            answer = pool[pick(i, pool)]
        correct[i] = p.records.hidden(*answer)
    return correct, cost


def agreement_pick(problems: Sequence[Problem]) -> Pick:
    """The product's rule: the best cell of the pool's pass matrix (L's answer if none)."""

    def pick(i: int, pool: Sequence[Candidate]) -> int:
        best = agreement(problems[i].matrix(pool, problems[i].tests)).best_solution
        return max(best, 0)

    return pick


def oracle_pick(problems: Sequence[Problem]) -> Pick:
    """A correct candidate whenever the pool holds one: the bound on any pick of these draws."""

    def pick(i: int, pool: Sequence[Candidate]) -> int:
        right = [j for j, c in enumerate(pool) if problems[i].records.hidden(*c)]
        return right[0] if right else 0

    return pick


@dataclass
class Row:
    """A cascade's figures per seed: validation and held-out pass@1 and cost share."""

    label: str
    val_acc: list[float]
    val_share: list[float]
    held_acc: list[float]
    held_share: list[float]
    chosen: list[str] | None = None

    def add(self, values: tuple[float, float, float, float]) -> None:
        for column, value in zip(
            (self.val_acc, self.val_share, self.held_acc, self.held_share), values, strict=True
        ):
            column.append(value)


def figures(
    correct: BoolArray, cost: FloatArray, ref_cost: FloatArray, parts: Split
) -> tuple[float, float, float, float]:
    """(validation pass@1, validation share, held-out pass@1, held-out share); a share is the
    mean cost over the reference's mean cost on the same problems."""
    v, h = parts.validation, parts.held_out
    return (
        float(correct[v].mean()),
        float(cost[v].mean() / ref_cost[v].mean()),
        float(correct[h].mean()),
        float(cost[h].mean() / ref_cost[h].mean()),
    )


def evaluate(table: OutcomeTable, seeds: Sequence[int], budget: float) -> list[Row]:
    """Every row of the table, seed by seed (the verifier is refitted per seed and C)."""
    draws = max(MS)
    problems = [prepare(table, i, draws) for i in range(len(table.task_ids))]
    product = table.per_problem(PRODUCT)
    prefix = np.array([p.prefix_cost for p in problems])
    stopped = np.array([p.accepted for p in problems])
    if not (np.allclose(prefix, product.cost) and np.array_equal(stopped, product.visited == 1)):
        raise AssertionError(f"the structure's first steps differ from {PRODUCT.label()}")
    feats = [[features(p, p.pool(d)) for d in range(draws + 1)] for p in problems]
    labels = [
        [np.array([p.records.hidden(*c) for c in p.pool(d)]) for d in range(draws + 1)]
        for p in problems
    ]
    reference = table.per_problem(baselines(table)[-1])
    fixed = {
        f"reference {baselines(table)[-1].label()}": (reference.correct, reference.cost),
        f"product best ≤ 20 %: {PRODUCT.label()}": (product.correct, product.cost),
        f"structure m={FIXED[0]}, agreement pick": structure(
            problems, FIXED[0], agreement_pick(problems)
        ),
    }
    rows = [Row(label, [], [], [], []) for label in fixed]
    learned = Row(f"structure m={FIXED[0]}, verifier C={FIXED[1]}", [], [], [], [])
    label = f"structure, verifier, (m, C) chosen per seed (≤ {100 * budget:.0f} % on val.)"
    chosen = Row(label, [], [], [], [], [])
    bound = Row(f"structure m={FIXED[0]}, oracle pick (bound)", [], [], [], [])
    oracle = structure(problems, FIXED[0], oracle_pick(problems))
    for seed in seeds:
        parts = split(table.task_ids, seed=seed)
        for row, (correct, cost) in zip(rows, fixed.values(), strict=True):
            row.add(figures(correct, cost, reference.cost, parts))
        bound.add(figures(*oracle, reference.cost, parts))
        grid: dict[tuple[int, float], tuple[float, float, float, float]] = {}
        for c in CS:
            prob = probabilities(feats, labels, parts, c)

            def pick(i: int, pool: Sequence[Candidate], prob: list[list[FloatArray]] = prob) -> int:
                return int(np.argmax(prob[i][len(pool) - 2]))

            for m in MS:
                grid[(m, c)] = figures(*structure(problems, m, pick), reference.cost, parts)
        learned.add(grid[FIXED])
        keys = list(grid)
        val_acc = np.array([grid[k][0] for k in keys])
        val_share = np.array([grid[k][1] for k in keys])
        fits = np.flatnonzero(val_share <= budget)
        if not len(fits):
            fits = np.array([int(np.argmin(val_share))])
        best = keys[int(fits[np.lexsort((val_share[fits], -val_acc[fits]))[0]])]
        chosen.add(grid[best])
        assert chosen.chosen is not None
        chosen.chosen.append(f"m={best[0]} C={best[1]}")
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    return [*rows, learned, chosen, bound]


def spread(values: Sequence[float]) -> str:
    """Mean ± standard deviation over seeds (population, ddof 0), in percent."""
    return f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f} %"


def markdown(rows: Sequence[Row], seeds: Sequence[int]) -> str:
    head = (
        "| cascade | validation pass@1 | held-out pass@1 | held-out cost share "
        f"| per seed {', '.join(map(str, seeds))}: held-out pass@1 / share (%) |"
    )
    lines = [head, "|---|---|---|---|---|"]
    for r in rows:
        per_seed = " · ".join(
            f"{100 * a:.1f} / {100 * s:.1f}" for a, s in zip(r.held_acc, r.held_share, strict=True)
        )
        lines.append(
            f"| {r.label} | {spread(r.val_acc)} | {spread(r.held_acc)} | {spread(r.held_share)} "
            f"| {per_seed} |"
        )
    for r in rows:
        if r.chosen:
            picks = ", ".join(
                f"seed {s}: {c} (val {100 * a:.1f} % at {100 * v:.1f} %)"
                for s, c, a, v in zip(seeds, r.chosen, r.val_acc, r.val_share, strict=True)
            )
            lines.append(f"\nChosen per seed on validation (out-of-fold): {picks}.")
    return "\n".join(lines)


def main() -> None:
    started = time.monotonic()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="benchmarks/results/eval-humaneval")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--budget", type=float, default=0.2, help="cost share of the reference")
    parser.add_argument("--out", type=Path, help="also write the table here (Markdown)")
    args = parser.parse_args()

    table = OutcomeTable.from_cache(EvalCache.load(Path(args.cache)))
    rows = evaluate(table, args.seeds, args.budget)
    text = markdown(rows, args.seeds)
    print(text)
    if args.out:
        wall = time.monotonic() - started
        notes = (
            f"{len(table.task_ids)} problems of `{args.cache}`; per seed `calibrate.split` "
            "(30 % validation, the rest held out). Cost share: mean dollars over the "
            "reference's on the same problems. Validation figures of verifier rows are "
            f"out-of-fold ({FOLDS} folds grouped by problem); the verifier is "
            "StandardScaler + LogisticRegression over "
            f"{len(FEATURES)} run-time features ({'; '.join(FEATURES)}), fitted per seed on the "
            "validation split only; the per-seed choice is over "
            f"m ∈ {{{', '.join(map(str, MS))}}}, C ∈ {{{', '.join(map(str, CS))}}}: "
            "best validation pass@1 within "
            f"{100 * args.budget:.0f} % of the reference's validation cost, ties to the cheaper "
            "(its held-out share may exceed the budget). The oracle row picks a correct "
            "candidate whenever the pool holds one: no pick among these draws does better. "
            "± is the standard deviation over seeds (ddof 0)."
        )
        args.out.write_text(
            "# Learned verifier over M → L → M samples (offline, cached)\n\n"
            f"Command: `python {shlex.join(sys.argv)}`  \nWall time: {wall:.0f} s\n\n"
            f"{text}\n\n{notes}\n"
        )


if __name__ == "__main__":
    main()
