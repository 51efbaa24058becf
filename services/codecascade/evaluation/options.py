"""The options beyond the paper (issue 18), evaluated per problem from a format 2 cache.

Three options change what one tier does, and each has its counterpart in the router (the policy
file's `carry_tests`, `batch` and `select_from_all`), so a policy the grid chooses is one the
router executes:

- **Tests carried up the cascade** (`carry`): a tier's verification adds the asserts every
  earlier tier visited kept (its examples, then what its generations agreed on), after its own;
  with l = 0 it writes none of its own and pays for none. The cells a tier's own matrix lacks
  (its solutions against a lower tier's asserts) come from the cache's cross matrix.
- **Early exit** (`batch` = b): the k samples are drawn b at a time and the tier stops as soon
  as the answer is decided. After i of k samples the best product can only grow, so
  best / (k·T) ≥ θ already means the full tier would accept; and it can grow at most to
  T · (most solutions passing one test + k - i), so (that + k - i) / k < θ means it would
  escalate. A non-last tier therefore makes exactly the decision it makes at full k (its
  answer, when it accepts, is the best of the samples drawn); a last tier answers once the
  first bound reaches its θ (θ then matters on the last tier too). Only the drawn samples'
  tokens are paid (the test generation is one request, paid in full).
- **Selection among every candidate seen** (`union`, last tier only): the last tier answers with
  the best candidate, by the same agreement score, among all solutions drawn by every tier the
  problem visited, against every test those tiers kept; the answer may be a lower tier's.
  With `verify`, the learned verifier (`router.verifier`) picks it instead, from the features the
  router computes (`verifier_inputs`: the same pool, tests and examples).

Everything is a lookup in cached matrices: `agreement` (core.decision) scores, the product's
agreement rule (`_selected_columns`) picks the kept tests, as in `grid.tier_outcome`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from codecascade.core.decision import Verdict, agreement, early_verdict
from codecascade.evaluation.cache import CrossRecord, ExecutionRecord, GenerationRecord
from codecascade.evaluation.grid import (
    MAX_TESTS,
    TierSetting,
    generation_cost,
    selected_columns,
)
from codecascade.router.verifier import Candidate

if TYPE_CHECKING:
    from codecascade.router.verifier import VerifierModel

__all__ = [
    "ProblemRecords",
    "StepOutcome",
    "kept_tests",
    "step_outcome",
    "step_tests",
    "verifier_inputs",
]


@dataclass(frozen=True)
class ProblemRecords:
    """One problem's cache records for every tier, and its cross matrix."""

    gens: Mapping[str, GenerationRecord]
    exes: Mapping[str, ExecutionRecord]
    cross: CrossRecord | None

    @cached_property
    def _columns(self) -> dict[str, dict[str, int]]:
        return {t: {c: j for j, c in enumerate(e.columns)} for t, e in self.exes.items()}

    @cached_property
    def _cross(self) -> tuple[dict[tuple[str, int], int], dict[str, int]]:
        if self.cross is None:
            return {}, {}
        rows = {r: i for i, r in enumerate(self.cross.rows)}
        return rows, {c: j for j, c in enumerate(self.cross.columns)}

    @cached_property
    def kept(self) -> dict[tuple[str, int, int, int], tuple[str, ...]]:
        """`kept_tests` per (tier, k, l, t), filled as asked (the agreement rule parses every
        assert: the grid asks for the same few settings thousands of times)."""
        return {}

    def passes(self, tier: str, row: int, test: str) -> bool:
        exe = self.exes[tier]
        column = self._columns[tier].get(test)
        if column is not None:
            return exe.matrix[row][column] == "1"
        if self.cross is None:
            raise LookupError(
                f"{exe.task_id}: tier {tier} has no cell for a carried assert; run "
                "`cascade eval --cross` on this cache (format 2) first"
            )
        rows, columns = self._cross
        return self.cross.matrix[rows[(tier, row)]][columns[test]] == "1"

    def hidden(self, tier: str, row: int) -> bool:
        return self.exes[tier].hidden[row] == "1"

    def code(self, tier: str, row: int) -> str:
        """The candidate's program (cache rows: samples, then the greedy answer)."""
        gen = self.gens[tier]
        return gen.greedy.code if row == len(gen.samples) else gen.samples[row].code


def verifier_inputs(
    records: ProblemRecords, candidates: Sequence[tuple[str, int]], tests: Sequence[str]
) -> tuple[list[Candidate], list[list[bool]], list[bool]]:
    """What the router's `_select_from_all` hands the verifier, from the cache: the pool (tier
    rank by first appearance, greedy = a k <= 1 step's answer, which is the cache's greedy row),
    its pass matrix against `tests`, and which of them are the task's own examples (the tiers'
    example asserts: test synthesis marks them, and they travel with the carried tests)."""
    order = list(dict.fromkeys(tier for tier, _ in candidates))
    ranks = {tier: rank for rank, tier in enumerate(order)}
    pool = [
        Candidate(records.code(tier, row), ranks[tier], row == len(records.gens[tier].samples))
        for tier, row in candidates
    ]
    passed = [[records.passes(tier, row, test) for test in tests] for tier, row in candidates]
    examples = {
        records.exes[tier].columns[c] for tier in order for c in records.exes[tier].example_columns
    }
    return pool, passed, [test in examples for test in tests]


def kept_tests(records: ProblemRecords, tier: str, k: int, lines: int, t: int) -> tuple[str, ...]:
    """The asserts the tier keeps at (k, l, t): its examples, then what its generations agree
    on, as the product selects them. l = 0 (carried tests only) keeps none: the router then
    asks test synthesis for nothing, not even the examples (the earlier tier's carry them)."""
    key = (tier, k, lines, t)
    known = records.kept.get(key)
    if known is None:
        known = records.kept[key] = _kept_tests(records, tier, k, lines, t)
    return known


def _kept_tests(records: ProblemRecords, tier: str, k: int, lines: int, t: int) -> tuple[str, ...]:
    gen, exe = records.gens[tier], records.exes[tier]
    if lines == 0 or k == 0:
        return ()
    if k == 1:
        generations = [exe.greedy_columns]
    else:
        generations = list(exe.generation_columns[: t or k])
    columns = selected_columns(gen, exe, [cols[:lines] for cols in generations], MAX_TESTS)
    return tuple(exe.columns[c] for c in columns)


def step_tests(
    records: ProblemRecords, tier: str, setting: TierSetting, carried: tuple[str, ...]
) -> list[str]:
    """The tests the tier verifies with at `setting`: its own kept asserts, then (`carry`) the
    carried ones it does not already have, in the order the router joins them."""
    own = kept_tests(records, tier, setting.k, setting.l, setting.t)
    return [*own, *(c for c in carried if c not in own)] if setting.carry else list(own)


def test_tokens(
    records: ProblemRecords, tier: str, k: int, lines: int, t: int
) -> tuple[float, float]:
    """Tokens and CPU-seconds of the tier's own test generations at (k, l, t)."""
    if lines == 0 or k == 0:
        return 0.0, 0.0
    gen = records.gens[tier]
    generations = [gen.greedy_tests] if k == 1 else list(gen.test_generations[: t or k])
    costs = [generation_cost(g, lines) for g in generations]
    return sum(c[0] for c in costs), sum(c[1] for c in costs)


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """One tier of a cascade on one problem, with the options applied."""

    score: float  # the full-k score: the decision is the one the tier makes without early exit
    passed_any: bool
    correct: bool
    tokens: float
    cpu_s: float
    answer: tuple[str, int]  # (tier, cache row) of the answer
    drawn: tuple[tuple[str, int], ...]  # the candidates this tier drew
    tests: tuple[str, ...]  # the tests it verified with (own kept, then carried)


def step_outcome(
    records: ProblemRecords,
    tier: str,
    setting: TierSetting,
    *,
    last: bool,
    carried: tuple[str, ...] = (),
    seen: tuple[tuple[str, int], ...] = (),
    seen_tests: tuple[str, ...] = (),
    verifier: VerifierModel | None = None,
) -> StepOutcome:
    """The tier at `setting` on one problem; `carried` are the asserts earlier tiers kept,
    `seen` the candidates they drew and `seen_tests` every test they used (for `union`);
    `verifier` picks a `verify` tier's answer among them all."""
    gen = records.gens[tier]
    greedy_row = len(gen.samples)
    k, lines, t = setting.k, setting.l, setting.t
    if k == 0:
        row = (tier, greedy_row)
        return StepOutcome(
            1.0,
            False,
            records.hidden(*row),
            float(gen.greedy.tokens),
            gen.greedy.cpu_s,
            row,
            (row,),
            (),
        )
    rows = [greedy_row] if k == 1 else list(range(k))
    calls = [gen.greedy] if k == 1 else list(gen.samples[:k])
    tests = step_tests(records, tier, setting, carried)
    matrix = [[records.passes(tier, r, c) for c in tests] for r in rows]
    full = agreement(matrix)
    drawn = len(rows)
    best = full.best_solution
    if setting.batch and k >= 2:
        for count in range(setting.batch, k, setting.batch):  # the draws before the last
            verdict = early_verdict(matrix[:count], k, setting.theta, last=last)
            if verdict is None:
                continue
            drawn = count
            if verdict is not Verdict.ESCALATE:  # accepted (or, last, answered) early
                best = agreement(matrix[:count]).best_solution
            break
    answer_row = rows[best] if best >= 0 else rows[0]
    tokens = float(sum(c.tokens for c in calls[:drawn]))
    cpu = sum(c.cpu_s for c in calls[:drawn])
    test_tok, test_cpu = test_tokens(records, tier, k, lines, t)
    drawn_rows = tuple((tier, r) for r in rows[:drawn])
    answer = (tier, answer_row)
    if setting.union and last:
        candidates = (*seen, *drawn_rows)
        every = list(dict.fromkeys((*seen_tests, *tests)))
        if setting.verify:
            if verifier is None:
                raise ValueError("a verify tier needs the learned verifier's model")
            if seen:  # nothing drawn before: the router keeps the tier's own pick
                answer = candidates[verifier.choose(*verifier_inputs(records, candidates, every))]
        else:
            union = agreement([[records.passes(tr, r, c) for c in every] for tr, r in candidates])
            if union.best_solution >= 0:
                answer = candidates[union.best_solution]
    return StepOutcome(
        score=full.score,
        passed_any=full.passed_any,
        correct=records.hidden(*answer),
        tokens=tokens + test_tok,
        cpu_s=cpu + test_cpu,
        answer=answer,
        drawn=drawn_rows,
        tests=tuple(tests),
    )
