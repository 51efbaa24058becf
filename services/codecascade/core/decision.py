"""The accept-or-escalate rule, written once: the online cascade and the offline grid call it.

A calibrated policy is only worth the agreement between the cascade that serves it and the grid
that chose it, so the rule has one home. `agreement` scores a pass matrix, `decide` turns a score
into a verdict for one request, and `stops` is the same verdict elementwise over many problems
(numpy arrays, for the grid); a property test holds the two equal.

The agreement score (DESIGN §1, a simplified CodeT):

Over the k x T pass matrix, every passing cell (solution i, test j) is worth
    (tests solution i passes) x (solutions passing test j),
so a solution scores high when it passes many tests that many solutions agree on. The best cell
names the answer; the score is that product over k * T, in [0, 1], compared with θ. A matrix with
no passing cell scores 0: the authors' code started its counters at -1, which scored such a
problem 1 and accepted it; that bug is deliberately not reproduced.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Agreement", "Verdict", "accepts", "agreement", "decide", "early_verdict", "stops"]


@dataclass(frozen=True, slots=True)
class Agreement:
    """The best cell of a matrix and what it scores."""

    score: float
    best_solution: int  # -1 when nothing passed
    solution_passes: int
    test_agreement: int
    passes_per_solution: tuple[int, ...]
    solutions: int
    tests: int

    @property
    def passed_cells(self) -> int:
        return sum(self.passes_per_solution)

    @property
    def passed_any(self) -> bool:
        return self.best_solution >= 0


def agreement(matrix: Sequence[Sequence[bool]]) -> Agreement:
    """Scores a pass matrix (rows: solutions, columns: tests); ties go to the lower index."""
    solutions = len(matrix)
    tests = len(matrix[0]) if solutions else 0
    if any(len(row) != tests for row in matrix):
        raise ValueError("every row of the pass matrix must have one cell per test")
    per_solution = tuple(sum(row) for row in matrix)
    per_test = [sum(row[j] for row in matrix) for j in range(tests)]
    best = (0, -1, 0, 0)  # (product, solution, solution passes, test agreement)
    for i, row in enumerate(matrix):
        for j, passed in enumerate(row):
            if passed:
                product = per_solution[i] * per_test[j]
                if product > best[0]:
                    best = (product, i, per_solution[i], per_test[j])
    cells = solutions * tests
    return Agreement(
        score=best[0] / cells if cells else 0.0,
        best_solution=best[1],
        solution_passes=best[2],
        test_agreement=best[3],
        passes_per_solution=per_solution,
        solutions=solutions,
        tests=tests,
    )


class Verdict(enum.Enum):
    """What a tier's attempt means for the request."""

    ACCEPT = "accept"  # the score reached θ: this tier answers
    ESCALATE = "escalate"  # below θ (or nothing passed): the next tier tries
    ANSWER = "answer"  # the last tier answers with its best solution, whatever it scored
    UNTESTED = "untested"  # k = 0: one greedy answer, accepted without tests


@overload
def accepts(score: float, passed_any: bool, threshold: float) -> bool: ...


@overload
def accepts(
    score: npt.NDArray[np.float64], passed_any: npt.NDArray[np.bool_], threshold: float
) -> npt.NDArray[np.bool_]: ...


def accepts(
    score: float | npt.NDArray[np.float64],
    passed_any: bool | npt.NDArray[np.bool_],
    threshold: float,
) -> bool | npt.NDArray[np.bool_]:
    """Accepted when something passed and the score reaches θ (elementwise on arrays).

    Nothing passing scores 0 and is never accepted, even at θ = 0.
    """
    return passed_any & (score >= threshold)


def decide(score: float, passed_any: bool, threshold: float, *, k: int, last: bool) -> Verdict:
    """The verdict on one tier's attempt at one request."""
    if k == 0:
        return Verdict.UNTESTED
    if accepts(score, passed_any, threshold):
        return Verdict.ACCEPT
    return Verdict.ANSWER if last else Verdict.ESCALATE


def stops(
    score: npt.NDArray[np.float64],
    passed_any: npt.NDArray[np.bool_],
    threshold: float,
    *,
    k: int,
    last: bool,
) -> npt.NDArray[np.bool_]:
    """Per problem, whether the request ends at this tier: `decide(...) is not ESCALATE`."""
    if k == 0 or last:
        return passed_any | ~passed_any  # all True, in the input's shape
    return accepts(score, passed_any, threshold)


def early_verdict(
    drawn: Sequence[Sequence[bool]], k: int, threshold: float, *, last: bool
) -> Verdict | None:
    """Early exit (issue 18): the verdict after the first `len(drawn)` of k samples, or None
    when more samples could still change it.

    The best product over the drawn rows can only grow as samples come in, so once it reaches
    θ · k · T the full tier would accept (a last tier answers then, its θ meaning "good
    enough"). It can grow at most to T · (most solutions passing one test + samples left), so
    when that stays below θ · k · T a non-last tier would escalate. Either way the verdict is the
    one the full tier reaches; the answer on acceptance is the best drawn so far.
    """
    tests = len(drawn[0]) if drawn else 0
    left = k - len(drawn)
    if tests == 0:  # nothing can pass: escalate now, or (last) answer with the first sample,
        return Verdict.ANSWER if last else Verdict.ESCALATE  # which more samples cannot change
    scored = agreement(drawn)
    if scored.passed_any and scored.score * len(drawn) / k >= threshold:
        return Verdict.ANSWER if last else Verdict.ACCEPT
    if left <= 0:
        return Verdict.ANSWER if last else Verdict.ESCALATE
    most = max(sum(row[j] for row in drawn) for j in range(tests))
    if not last and (most + left) / k < threshold:
        return Verdict.ESCALATE
    return None
