"""Every (k, l, θ) per tier and every tier combination, evaluated from the cache alone.

The cache holds one generation pass per tier at the largest k and l, and the full pass matrix.
A tier at (k, l) is then a sub-matrix: its first k samples (rows), and the columns of the task's
own examples plus the first l asserts of each of its first k test generations (k = 1: the greedy
answer against the greedy generation's first l asserts, as the router does). Columns are
selected as the product selects them (agreement between the generations, `testsynth.agreement`),
deduplicated in the order the product keeps them, and capped the same way. Nothing is re-run.

A cascade is an ordered subset of the tiers, each with a setting (DESIGN §1): no tier after a
k = 0 tier (so k = 0 only comes last), and the last tier never has k = 1; the last tier answers
whatever it scores, so θ only varies on the earlier tiers. A problem's answer is correct when it
passes the benchmark's hidden test; its cost is the generated tokens of every tier it visited
(answers, plus the test lines that setting uses) times that tier's price.

Test tokens at l < l_max are the generation's tokens scaled by the share of its asserts' text
that the first l asserts make up: the cache generated l_max lines once, and a shorter request
would have stopped earlier (the paper truncated its generations the same way).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import combinations, product
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from codecascade.core.decision import accepts, agreement, stops
from codecascade.core.usage import token_cost
from codecascade.evaluation.cache import (
    AssertGeneration,
    EvalCache,
    ExecutionRecord,
    GenerationRecord,
)
from codecascade.testsynth.agreement import DEFAULT_RULE, select_by_agreement

if TYPE_CHECKING:  # options builds on this module: imported where used
    from codecascade.evaluation.options import ProblemRecords, StepOutcome
    from codecascade.router.verifier import VerifierModel

__all__ = [
    "KS",
    "LS",
    "OPTIONS",
    "THETAS",
    "Config",
    "OutcomeTable",
    "Point",
    "ProblemOutcomes",
    "TierOutcome",
    "TierSetting",
    "configurations",
    "generation_cost",
    "grid_ks",
    "grid_ls",
    "line_share",
    "option_configurations",
    "selected_columns",
    "tier_outcome",
    "tier_settings",
]

KS = (0, 1, 3, 5, 10)
LS = (0, 2, 4)
THETAS = tuple(round(i / 10, 1) for i in range(1, 11))
MAX_TESTS = 64  # the router's cap on kept tests per request

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


def grid_ks(k_max: int) -> tuple[int, ...]:
    return tuple(k for k in KS if k <= k_max)


def grid_ls(l_max: int) -> tuple[int, ...]:
    return tuple(line for line in LS if line <= l_max)


@dataclass(frozen=True, slots=True, order=True)
class TierSetting:
    """k solutions, l test lines per generation, threshold θ, t test generations (0: t = k)."""

    k: int
    l: int  # noqa: E741 - the paper's name
    theta: float = 1.0
    t: int = 0
    # Options beyond the paper (evaluation.options, issue 18): samples drawn `batch` at a time
    # with early exit (0: all at once), the earlier tiers' kept asserts added to this tier's
    # (`carry`; l may then be 0), and the last tier choosing among every candidate seen.
    batch: int = 0
    carry: bool = False
    union: bool = False
    # The union's answer picked by the learned verifier (`router.verifier`) the table holds
    # (`OutcomeTable.verifier`) instead of the agreement score: a last tier with `union` only.
    verify: bool = False

    def __post_init__(self) -> None:
        if self.verify and not self.union:
            raise ValueError("verify picks among every candidate: it needs union")

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.k, self.l, self.t)

    @property
    def plain(self) -> bool:
        """No option beyond the paper: the tier's outcome is one of the precomputed arrays."""
        return not (self.batch or self.carry or self.union)

    def label(self, *, last: bool) -> str:
        if self.k == 0:
            return "k0"
        tests = f" t{self.t}" if self.t else ""
        options = (
            (f" b{self.batch}" if self.batch else "")
            + (" +carried" if self.carry else "")
            + (" +all" if self.union else "")
            + (" +verified" if self.verify else "")
        )
        shown = f"{self.theta:.1f}" if round(self.theta, 1) == self.theta else f"{self.theta:.2f}"
        theta = "" if last and not self.batch else f" θ{shown}"
        return f"k{self.k}{tests} l{self.l}{theta}{options}"


def _generation_counts(k: int, k_max: int) -> tuple[int, ...]:
    """t for a sampled tier: k itself (0), or every generation the cache holds when that is more
    (more generations give the agreement rule more to agree on, at their token cost)."""
    return (0, k_max) if k >= 2 and k_max > k else (0,)


def tier_settings(k_max: int, l_max: int, *, last: bool) -> list[TierSetting]:
    """The settings a tier may take at that place in a cascade."""
    lines = [line for line in grid_ls(l_max) if line > 0]
    if last:
        tested = [
            TierSetting(k, line, 1.0, t)
            for k in grid_ks(k_max)
            if k >= 2
            for line in lines
            for t in _generation_counts(k, k_max)
        ]
        return [TierSetting(0, 0), *tested]
    return [
        TierSetting(k, line, theta, t)
        for k in grid_ks(k_max)
        if k >= 1
        for line in lines
        for t in _generation_counts(k, k_max)
        for theta in THETAS
    ]


@dataclass(frozen=True, slots=True)
class Config:
    """One cascade: (tier, setting) pairs, cheapest tier first."""

    steps: tuple[tuple[str, TierSetting], ...]
    # The learned pre-router (evaluation.prerouter): the first tier is skipped when the
    # predicted probability that it fails is at least this (0: never skipped).
    skip: float = 0.0

    def label(self) -> str:
        last = len(self.steps) - 1
        text = " → ".join(
            f"{tier}({s.label(last=i == last)})" for i, (tier, s) in enumerate(self.steps)
        )
        return f"[skip {self.steps[0][0]} at p≥{self.skip:.2f}] {text}" if self.skip else text

    @property
    def plain(self) -> bool:
        return not self.skip and all(s.plain for _, s in self.steps)

    @property
    def tiers(self) -> tuple[str, ...]:
        return tuple(t for t, _ in self.steps)


def configurations(tiers: Sequence[str], k_max: int, l_max: int) -> Iterator[Config]:
    """Every single tier and every ordered subset of the tiers, with every allowed setting."""
    early = tier_settings(k_max, l_max, last=False)
    final = tier_settings(k_max, l_max, last=True)
    for size in range(1, len(tiers) + 1):
        for chosen in combinations(tiers, size):
            for settings in product(*([early] * (size - 1)), final):
                yield Config(tuple(zip(chosen, settings, strict=True)))


OPTIONS = ("early", "carry", "union", "greedy", "verifier")
VERIFIER_DRAWS = (2, 3)  # the cheap tier's samples the verifier may add to its pool
BATCHES = (1, 2)  # samples per draw with early exit
LAST_THETAS = (0.4, 0.6, 0.8)  # when a batched last tier may answer early


def _batched(
    settings: list[TierSetting], thetas: Sequence[float] | None = None
) -> list[TierSetting]:
    """Early-exit variants (k >= 3); `thetas` for a last tier, whose θ the paper ignores."""
    return [
        replace(s, batch=b, theta=s.theta if thetas is None else theta)
        for s in settings
        if s.k >= 3
        for b in BATCHES
        for theta in ((s.theta,) if thetas is None else thetas)
    ]


def option_configurations(
    tiers: Sequence[str], k_max: int, l_max: int, options: Sequence[str]
) -> Iterator[Config]:
    """The configurations using some of `options` (the paper's grid is `configurations`).

    Kept to one or two tiers (the options multiply the grid; no three-tier cascade with S in
    front was on the headline's front): early exit on either tier, carried tests and selection
    among every candidate on the second; union only after an unbatched first tier. `greedy`
    adds the three-step greedy-first cascades (`_greedy_first`), the last tier listed twice;
    `verifier` the cheap tier listed again after a larger one, for the learned verifier
    (`_verified`).
    """
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}; known: {', '.join(OPTIONS)}")
    early = tier_settings(k_max, l_max, last=False)
    final = tier_settings(k_max, l_max, last=True)
    tested = [s for s in final if s.k >= 2]
    first = [*early, *(_batched(early) if "early" in options else [])]
    last = list(final)
    if "carry" in options:
        bare = [TierSetting(k, 0, 1.0, 0, carry=True) for k in grid_ks(k_max) if k >= 2]
        last += [replace(s, carry=True) for s in tested] + bare
    if "union" in options:
        last += [replace(s, union=True) for s in last if s.k >= 2]
    if "early" in options:
        last += _batched([s for s in last if s.k >= 2], LAST_THETAS)
    if "early" in options:
        for tier in tiers:
            for setting in _batched(tested, LAST_THETAS):
                yield Config(((tier, setting),))
    if "greedy" in options:
        yield from _greedy_first(tiers, early, tested)
    if "verifier" in options:
        yield from _verified(tiers, k_max, l_max)
    for a, b in combinations(tiers, 2):
        for one in first:
            for two in last:
                if (one.plain and two.plain) or (two.union and one.batch):
                    continue  # the paper's grid has it; union keys on an unbatched first tier
                yield Config(((a, one), (b, two)))


def _greedy_first(
    tiers: Sequence[str], early: list[TierSetting], tested: list[TierSetting]
) -> Iterator[Config]:
    """The last tier's greedy answer first (`greedy`): a checked greedy first tier, then the
    last tier twice: its greedy answer verified by the carried asserts (with 0 or 2 test lines
    of its own), accepted when it passes them all, else its samples with carried tests (early
    exit allowed). The last tier's greedy answer beats its samples' selection on the problems
    the first tier hands up. The policy file lists the tier twice, in adjacent entries
    (`router.policy`), and the router runs the two as two steps of the cascade.
    """
    checked = [s for s in early if s.k == 1]
    carried = [replace(s, carry=True) for s in tested] + [
        TierSetting(k, 0, 1.0, 0, carry=True) for k in sorted({s.k for s in tested})
    ]
    samples = carried + _batched(carried, LAST_THETAS)
    for a, b in combinations(tiers, 2):
        for one in checked:
            for lines in (0, 2):
                greedy = TierSetting(1, lines, 1.0, carry=True)
                for two in samples:
                    yield Config(((a, one), (b, greedy), (b, two)))


def _verified(tiers: Sequence[str], k_max: int, l_max: int) -> Iterator[Config]:
    """The learned verifier's structure (`verifier`; benchmarks/verifier.py): for a cheap tier a
    and a larger tier b, a's greedy answer checked by its own asserts, then b's greedy answer
    checked by those (accepted when it passes them all), then up to m of a's samples against the
    same asserts, drawn one at a time, and the verifier picks the answer among every candidate.

    θ = 1/m on the last step (batch 1): after its first sample the early-exit bound
    (`core.decision.early_verdict`) is met exactly when that sample passes every kept test, and
    later draws stop once the drawn samples' best product is worth one such sample, so it
    stops about where the research script's "first that passes them all" does (unit-tested).
    """
    if l_max < 2:
        return
    for m in (m for m in VERIFIER_DRAWS if m <= k_max):
        samples = TierSetting(m, 0, 1.0 / m, 0, batch=1, carry=True, union=True, verify=True)
        for a, b in combinations(tiers, 2):
            yield Config(
                (
                    (a, TierSetting(1, 2, 1.0)),
                    (b, TierSetting(1, 0, 1.0, carry=True)),
                    (a, samples),
                )
            )


@dataclass(frozen=True, slots=True)
class TierOutcome:
    """What one tier at one (k, l) does on one problem."""

    score: float
    passed_any: bool  # some cell passed: the answer is the best solution, else the first
    correct: bool  # that answer passes the hidden test
    tokens: float
    cpu_s: float
    answer: int = -1  # the cache row of the answer (samples, then greedy); -1 when not known
    wall_s: float = 0.0  # the tier's measured wall time for those calls (the autoscaler benchmark)

    def accepts(self, theta: float) -> bool:
        """Whether an earlier tier stops here at θ: the rule the router applies (core.decision)."""
        return accepts(self.score, self.passed_any, theta)


def generation_cost(generation: AssertGeneration, lines: int) -> tuple[float, float]:
    """Tokens and CPU-seconds of one test generation asked for `lines` assert lines.

    The cache generated l_max lines once; a request for fewer would have stopped after the first
    `lines` asserts, so its cost is the generation's scaled by their share of the asserts' text.
    """
    share = line_share(generation, lines)
    return generation.tokens * share, generation.cpu_s * share


def line_share(generation: AssertGeneration, lines: int) -> float:
    """The share of a generation of l_max lines that a request for `lines` would have made: its
    first `lines` asserts' share of the asserts' text (1.0 when it kept no more than that)."""
    kept = generation.asserts
    if lines >= len(kept):
        return 1.0
    return sum(map(len, kept[:lines])) / max(sum(map(len, kept)), 1)


def selected_columns(
    gen: GenerationRecord,
    exe: ExecutionRecord,
    generation_columns: list[tuple[int, ...]],
    max_tests: int,
) -> list[int]:
    """The columns the product would keep: examples, then what the generations agree on."""
    column_of = {code: index for index, code in enumerate(exe.columns)}
    selection = select_by_agreement(
        [[exe.columns[c] for c in cols] for cols in generation_columns],
        entry_point=gen.entry_point,
        examples=[exe.columns[c] for c in exe.example_columns],
        rule=DEFAULT_RULE,
    )
    columns: list[int] = []
    for column in (*exe.example_columns, *(column_of[t.code] for t in selection.kept)):
        if column not in columns and len(columns) < max_tests:
            columns.append(column)
    return columns


def tier_outcome(
    gen: GenerationRecord,
    exe: ExecutionRecord,
    k: int,
    lines: int,
    t: int = 0,
    *,
    max_tests: int = MAX_TESTS,
) -> TierOutcome:
    """The tier's score, answer and cost at (k, l = lines, t), from the full matrix."""
    greedy_row = len(gen.samples)
    if k == 0:
        correct = exe.hidden[greedy_row] == "1"
        greedy = gen.greedy
        return TierOutcome(
            1.0, False, correct, float(greedy.tokens), greedy.cpu_s, greedy_row, greedy.wall_s
        )
    if k == 1:
        rows = [greedy_row]
        calls = [gen.greedy]
        generations = [(gen.greedy_tests, exe.greedy_columns)]
    else:
        if k > len(gen.samples):
            raise ValueError(f"k = {k} but the cache has {len(gen.samples)} samples")
        rows = list(range(k))
        calls = list(gen.samples[:k])
        count = t or k
        if count > len(gen.test_generations):
            raise ValueError(
                f"t = {count} but the cache has {len(gen.test_generations)} generations"
            )
        generations = list(
            zip(gen.test_generations[:count], exe.generation_columns[:count], strict=True)
        )
    columns = selected_columns(gen, exe, [cols[:lines] for _, cols in generations], max_tests)
    matrix = [[exe.passes(r, c) for c in columns] for r in rows]
    scored = agreement(matrix)
    answer = rows[scored.best_solution] if scored.best_solution >= 0 else rows[0]
    tokens = float(sum(c.tokens for c in calls))
    cpu = sum(c.cpu_s for c in calls)
    wall = sum(c.wall_s for c in calls)
    for generation, _ in generations:
        test_tokens, test_cpu = generation_cost(generation, lines)
        tokens += test_tokens
        cpu += test_cpu
        wall += generation.wall_s * line_share(generation, lines)
    return TierOutcome(
        score=scored.score,
        passed_any=scored.best_solution >= 0,
        correct=exe.hidden[answer] == "1",
        tokens=tokens,
        cpu_s=cpu,
        answer=answer,
        wall_s=wall,
    )


@dataclass(frozen=True, slots=True)
class Point:
    """A configuration's figures on a set of problems (means per problem)."""

    config: Config
    accuracy: float
    cost_per_1k: float  # dollars per 1000 problems, generated tokens x price
    cpu_s: float  # measured CPU-seconds per problem
    tokens: float  # generated tokens per problem
    problems: int


@dataclass(frozen=True, slots=True)
class ProblemOutcomes:
    """What a configuration does on each problem (arrays in the table's problem order)."""

    correct: BoolArray  # the answer passes the hidden test (pass@1)
    cost: FloatArray  # dollars: generated tokens of every tier visited x that tier's price
    cpu_s: FloatArray
    tokens: FloatArray
    visited: npt.NDArray[np.intp]  # how many of the configuration's tiers the problem visited
    answer: npt.NDArray[np.intp]  # the cache row of the answer, in `answer_tier`
    # The tier (index in the configuration's steps) whose candidate answered: the last tier
    # visited, or with `union` possibly an earlier one.
    answer_tier: npt.NDArray[np.intp] | None = None
    skipped: BoolArray | None = None  # the pre-router skipped the first tier


@dataclass
class _Arrays:
    score: FloatArray
    passed_any: BoolArray
    correct: BoolArray
    tokens: FloatArray
    cpu_s: FloatArray
    answer: npt.NDArray[np.intp]
    answer_step: npt.NDArray[np.intp] | None = None  # steps back from this tier (union)


def _fields(arrays: _Arrays) -> tuple[npt.NDArray[np.generic], ...]:
    """The fields in order, with answer_step 0 (this tier) where it is not set."""
    step = arrays.answer_step if arrays.answer_step is not None else np.zeros_like(arrays.answer)
    return (
        arrays.score,
        arrays.passed_any,
        arrays.correct,
        arrays.tokens,
        arrays.cpu_s,
        arrays.answer,
        step,
    )


def _answer_step(
    config: Config, index: int, records: ProblemRecords, answer: tuple[str, int]
) -> int:
    """The step (of the first `index` + 1) that drew the answer: the latest step of its tier that
    draws that kind of row (greedy answers come from k <= 1 steps, samples from k >= 2 ones), so
    a tier listed again after a larger one resolves its greedy answer to its first step."""
    tier, row = answer
    greedy = row == len(records.gens[tier].samples)
    steps = [
        j
        for j, (name, setting) in enumerate(config.steps[: index + 1])
        if name == tier and (setting.k <= 1) == greedy
    ]
    return steps[-1] if steps else index


class OutcomeTable:
    """Every tier's outcome at every (k, l, t) for a fixed list of problems, as arrays."""

    def __init__(
        self,
        task_ids: Sequence[str],
        prices: Mapping[str, float],
        outcomes: Mapping[tuple[str, int, int, int], Sequence[TierOutcome]],
        *,
        k_max: int,
        l_max: int,
    ) -> None:
        self.task_ids = tuple(task_ids)
        self.prices = dict(prices)
        self.k_max, self.l_max = k_max, l_max
        # Set by `from_cache`: the records the options beyond the paper are evaluated from,
        # and whether every problem has its cross matrix (carried tests, union selection).
        self.records: list[ProblemRecords] | None = None
        self.cross = False
        self._options: dict[object, _Arrays] = {}
        # Per (problem, earlier steps): the tests and candidates they hand on (computed once).
        self._handed: dict[
            object, tuple[tuple[str, ...], tuple[tuple[str, int], ...], tuple[str, ...]]
        ] = {}
        # The pre-router's predicted probability that each tier fails, per problem (set by the
        # calibrator from a model trained on the validation split only).
        self.skip_probability: dict[str, FloatArray] = {}
        # The learned verifier a `verify` step picks with (set by the calibrator from a model
        # trained on the validation split only; part of the key its outcomes are cached under).
        self.verifier: VerifierModel | None = None
        self._arrays = {
            key: _Arrays(
                np.array([o.score for o in rows], dtype=np.float64),
                np.array([o.passed_any for o in rows], dtype=np.bool_),
                np.array([o.correct for o in rows], dtype=np.bool_),
                np.array([o.tokens for o in rows], dtype=np.float64),
                np.array([o.cpu_s for o in rows], dtype=np.float64),
                np.array([o.answer for o in rows], dtype=np.intp),
            )
            for key, rows in outcomes.items()
        }

    @classmethod
    def from_cache(cls, cache: EvalCache, tiers: Sequence[str] | None = None) -> OutcomeTable:
        """The problems every chosen tier has executed, in the dataset's order."""
        settings = cache.settings
        names = list(tiers or settings.tier_names)
        unknown = set(names) - set(settings.tier_names)
        if unknown:
            raise ValueError(f"tiers {sorted(unknown)} are not in the cache {settings.tier_names}")
        gens = {t: cache.generations(t) for t in names}
        exes = {t: cache.executions(t) for t in names}
        ids = [i for i in settings.task_ids if all(i in exes[t] and i in gens[t] for t in names)]
        outcomes = {
            (name, k, line, t): [
                tier_outcome(gens[name][i], exes[name][i], k, line, t) for i in ids
            ]
            for name in names
            for k in grid_ks(settings.k_max)
            for line in (grid_ls(settings.l_max) if k > 0 else (0,))
            if (k == 0) == (line == 0)
            for t in _generation_counts(k, settings.k_max)
        }
        from codecascade.evaluation.options import ProblemRecords  # it builds on this module

        prices = {t: settings.price(t) for t in names}
        table = cls(ids, prices, outcomes, k_max=settings.k_max, l_max=settings.l_max)
        cross = cache.cross()
        table.records = [
            ProblemRecords(
                {t: gens[t][i] for t in names}, {t: exes[t][i] for t in names}, cross.get(i)
            )
            for i in ids
        ]
        table.cross = bool(ids) and all(i in cross for i in ids)
        return table

    @staticmethod
    def _context(config: Config, index: int) -> tuple[tuple[str, TierSetting], ...]:
        """What step `index` needs of the earlier steps: what an earlier tier hands on (its
        kept tests, its candidates) depends on its (k, l, t) only: θ and early exit change when
        it stops, not what it drew (union is enumerated after unbatched tiers only)."""
        setting = config.steps[index][1]
        if not (setting.carry or setting.union):
            return ()
        return tuple((t, TierSetting(s.k, s.l, 1.0, s.t)) for t, s in config.steps[:index])

    def handed(
        self, config: Config, index: int, problem: int
    ) -> tuple[tuple[str, ...], tuple[tuple[str, int], ...], tuple[str, ...]]:
        """What the steps before `index` hand on for one problem, had it reached that step:
        the asserts they kept (carried), the candidates they drew (seen) and every test they
        verified with (seen tests). The verifier's training pools start from it."""
        if self.records is None:
            raise ValueError("options beyond the paper need a table read from a cache")
        from codecascade.evaluation.options import kept_tests, step_outcome

        context = self._context(config, index)
        handed = self._handed.get((problem, context))
        if handed is None:
            records = self.records[problem]
            carried: tuple[str, ...] = ()
            seen: tuple[tuple[str, int], ...] = ()
            seen_tests: tuple[str, ...] = ()
            for before, earlier in context:  # what the earlier tiers drew and kept
                done = step_outcome(records, before, earlier, last=False, carried=carried)
                own = kept_tests(records, before, earlier.k, earlier.l, earlier.t)
                carried += tuple(c for c in own if c not in carried)
                seen += done.drawn
                seen_tests += tuple(c for c in done.tests if c not in seen_tests)
            handed = self._handed[(problem, context)] = (carried, seen, seen_tests)
        return handed

    def _extended(self, config: Config, index: int) -> _Arrays:
        """Step `index` of a configuration with options (evaluation.options), per problem."""
        tier, setting = config.steps[index]
        last = index == len(config.steps) - 1
        context = self._context(config, index)
        verifier = self.verifier if setting.verify and last else None
        if setting.verify and last and verifier is None:
            raise ValueError(f"{config.label()} picks by the learned verifier: set table.verifier")
        key = (tier, setting, last, context, verifier)
        cached = self._options.get(key)
        if cached is not None:
            return cached
        if self.records is None:
            raise ValueError("options beyond the paper need a table read from a cache")
        from codecascade.evaluation.options import step_outcome

        rows: list[StepOutcome] = []
        steps: list[int] = []
        for problem, records in enumerate(self.records):
            carried, seen, seen_tests = self.handed(config, index, problem)
            done = step_outcome(
                records,
                tier,
                setting,
                last=last,
                carried=carried,
                seen=seen,
                seen_tests=seen_tests,
                verifier=verifier,
            )
            rows.append(done)
            steps.append(_answer_step(config, index, records, done.answer))
        arrays = _Arrays(
            np.array([o.score for o in rows], dtype=np.float64),
            np.array([o.passed_any for o in rows], dtype=np.bool_),
            np.array([o.correct for o in rows], dtype=np.bool_),
            np.array([o.tokens for o in rows], dtype=np.float64),
            np.array([o.cpu_s for o in rows], dtype=np.float64),
            np.array([o.answer[1] for o in rows], dtype=np.intp),
            np.array([index - step for step in steps], dtype=np.intp),
        )
        self._options[key] = arrays
        return arrays

    @property
    def tiers(self) -> tuple[str, ...]:
        return tuple(self.prices)

    def per_problem(self, config: Config) -> ProblemOutcomes:
        """Per problem: the tiers visited, the answer and whether it is correct, and the cost.

        Each tier decides with `core.decision.stops`, the vectorised form of the verdict the
        router's cascade reaches with `decide`, and is priced with the one cost formula.
        """
        n = len(self.task_ids)
        remaining = np.ones(n, dtype=np.bool_)
        correct = np.zeros(n, dtype=np.bool_)
        cost = np.zeros(n)
        cpu = np.zeros(n)
        tokens = np.zeros(n)
        visited = np.zeros(n, dtype=np.intp)
        answer = np.full(n, -1, dtype=np.intp)
        answer_tier = np.full(n, -1, dtype=np.intp)
        skipped = np.zeros(n, dtype=np.bool_)
        if config.skip:
            skipped = self.skip_probability[config.steps[0][0]] >= config.skip
        last = len(config.steps) - 1
        for i, (tier, s) in enumerate(config.steps):
            arrays = self._arrays[(tier, *s.key)] if s.plain else self._extended(config, i)
            if i >= 1 and skipped.any() and (s.carry or s.union):
                # The problems the pre-router sent past the first tier got nothing from it.
                alone = self._extended(Config(config.steps[1:]), i - 1)
                arrays = _Arrays(
                    *(
                        np.where(skipped, a, b)
                        for a, b in zip(_fields(alone), _fields(arrays), strict=True)
                    )
                )
            if i == 0:
                remaining = remaining & ~skipped
            elif i == 1:
                remaining = remaining | skipped  # the skipped ones start here
            tokens += np.where(remaining, arrays.tokens, 0.0)
            cost += np.where(remaining, token_cost(arrays.tokens, self.prices[tier]), 0.0)
            cpu += np.where(remaining, arrays.cpu_s, 0.0)
            visited += remaining
            ends = remaining & stops(
                arrays.score, arrays.passed_any, s.theta, k=s.k, last=i == last
            )
            correct |= ends & arrays.correct
            answer = np.where(ends, arrays.answer, answer)
            back = arrays.answer_step if arrays.answer_step is not None else 0
            answer_tier = np.where(ends, i - back, answer_tier)
            remaining = remaining & ~ends
        return ProblemOutcomes(correct, cost, cpu, tokens, visited, answer, answer_tier, skipped)

    def point(self, config: Config, indices: npt.NDArray[np.intp] | None = None) -> Point:
        outcomes = self.per_problem(config)
        correct, cost, cpu, tokens = (
            outcomes.correct,
            outcomes.cost,
            outcomes.cpu_s,
            outcomes.tokens,
        )
        if indices is not None:
            correct, cost, cpu, tokens = (
                correct[indices],
                cost[indices],
                cpu[indices],
                tokens[indices],
            )
        n = len(correct)
        if n == 0:
            return Point(config, 0.0, 0.0, 0.0, 0.0, 0)
        return Point(
            config,
            accuracy=float(correct.mean()),
            cost_per_1k=float(cost.mean() * 1000.0),
            cpu_s=float(cpu.mean()),
            tokens=float(tokens.mean()),
            problems=n,
        )

    def configurations(self, options: Sequence[str] = ()) -> Iterator[Config]:
        """The paper's grid, then the configurations using some of `options` (carried tests
        and union selection only when every problem has its cross matrix)."""
        yield from configurations(self.tiers, self.k_max, self.l_max)
        usable = [o for o in options if self.cross or o == "early"]
        if usable:
            yield from option_configurations(self.tiers, self.k_max, self.l_max, usable)
