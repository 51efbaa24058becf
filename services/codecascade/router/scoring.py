"""The agreement score a tier's answer is accepted on (DESIGN §1, a simplified CodeT).

Over the k x T pass matrix, every passing cell (solution i, test j) is worth
    (tests solution i passes) x (solutions passing test j),
so a solution scores high when it passes many tests that many solutions agree on. The best cell
names the answer; the score is that product over k * T, in [0, 1], compared with θ. A matrix with
no passing cell scores 0: the authors' code started its counters at -1, which scored such a
problem 1 and accepted it; that bug is deliberately not reproduced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Agreement", "agreement"]


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

    def accepts(self, threshold: float) -> bool:
        """Accepted when something passed and the score reaches θ."""
        return self.best_solution >= 0 and self.score >= threshold


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
