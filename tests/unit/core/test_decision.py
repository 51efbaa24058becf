from __future__ import annotations

import pytest

from codecascade.core.decision import accepts, agreement

T, F = True, False


def test_nothing_passing_scores_zero_and_never_accepts() -> None:
    result = agreement([[F, F], [F, F]])
    assert (result.score, result.best_solution) == (0.0, -1)
    assert not accepts(result.score, result.passed_any, 0.0)


def test_empty_matrices_score_zero() -> None:
    assert agreement([]).score == 0.0
    assert agreement([[], []]).score == 0.0


def test_best_cell_maximises_solution_passes_times_test_agreement() -> None:
    matrix = [[T, F, F], [T, T, T], [T, T, F]]
    result = agreement(matrix)
    # solution 1 passes 3 tests; test 0 is passed by 3 solutions -> 9 of 9 cells.
    assert (result.best_solution, result.solution_passes, result.test_agreement) == (1, 3, 3)
    assert result.score == pytest.approx(1.0)
    assert result.passes_per_solution == (1, 3, 2)


def test_threshold_comparison_and_tie_break() -> None:
    result = agreement([[T, F], [T, F]])
    assert result.best_solution == 0  # tie: lower index
    assert result.score == pytest.approx(2 * 1 / 4)  # passes 1, agreement 2 over 4 cells
    assert accepts(result.score, result.passed_any, 0.5)
    assert not accepts(result.score, result.passed_any, 0.51)


def test_ragged_matrix_is_rejected() -> None:
    with pytest.raises(ValueError):
        agreement([[T], [T, F]])
