from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from codecascade.core.decision import Verdict, accepts, agreement, decide, stops

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


# The offline grid decides with `stops` on arrays, the online cascade with `decide` per request:
# they must agree on every input, or a calibrated policy means something else when served.
_scores = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
_thresholds = st.sampled_from([0.0, 0.1, 0.5, 0.8, 0.9, 1.0]) | _scores


@given(
    st.lists(st.tuples(_scores, st.booleans()), min_size=0, max_size=40),
    _thresholds,
    st.integers(min_value=0, max_value=10),
    st.booleans(),
)
def test_stops_on_arrays_equals_decide_elementwise(
    cells: list[tuple[float, bool]], threshold: float, k: int, last: bool
) -> None:
    score = np.array([s for s, _ in cells], dtype=np.float64)
    passed_any = np.array([p for _, p in cells], dtype=np.bool_)
    vectorised = stops(score, passed_any, threshold, k=k, last=last)
    assert vectorised.shape == score.shape
    expected = [decide(s, p, threshold, k=k, last=last) is not Verdict.ESCALATE for s, p in cells]
    assert vectorised.tolist() == expected


@given(st.lists(st.tuples(_scores, st.booleans()), max_size=40), _thresholds)
def test_accepts_on_arrays_equals_accepts_on_scalars(
    cells: list[tuple[float, bool]], threshold: float
) -> None:
    score = np.array([s for s, _ in cells], dtype=np.float64)
    passed_any = np.array([p for _, p in cells], dtype=np.bool_)
    assert accepts(score, passed_any, threshold).tolist() == [
        bool(accepts(s, p, threshold)) for s, p in cells
    ]


def _matrices() -> st.SearchStrategy[list[list[bool]]]:
    return st.integers(min_value=0, max_value=6).flatmap(
        lambda tests: st.lists(
            st.lists(st.booleans(), min_size=tests, max_size=tests), min_size=0, max_size=6
        )
    )


@given(_matrices(), _thresholds, st.integers(min_value=1, max_value=10), st.booleans())
def test_agreement_on_random_matrices_is_consistent(
    matrix: list[list[bool]], threshold: float, k: int, last: bool
) -> None:
    scored = agreement(matrix)
    cells = [(i, j) for i, row in enumerate(matrix) for j, passed in enumerate(row) if passed]
    per_solution = [sum(row) for row in matrix]
    per_test = [sum(column) for column in zip(*matrix, strict=True)] if matrix else []
    # The score is in [0, 1]; something passed exactly when a best solution was named.
    assert 0.0 <= scored.score <= 1.0
    assert scored.passed_any == bool(cells) == (scored.best_solution >= 0)
    assert scored.passes_per_solution == tuple(per_solution)
    assert scored.passed_cells == len(cells)
    if not cells:
        assert scored.score == 0.0
        assert decide(scored.score, scored.passed_any, threshold, k=k, last=last) in (
            Verdict.ESCALATE,
            Verdict.ANSWER,
        )
        return
    # The best cell is the product's maximum, ties to the lowest (solution, test) cell.
    best = max(per_solution[i] * per_test[j] for i, j in cells)
    first = min((i, j) for i, j in cells if per_solution[i] * per_test[j] == best)
    assert scored.score == pytest.approx(best / (len(matrix) * len(matrix[0])))
    assert scored.best_solution == first[0]
    assert (scored.solution_passes, scored.test_agreement) == (
        per_solution[first[0]],
        per_test[first[1]],
    )
    # The verdict follows the score: accepting at θ means accepting at any lower θ too.
    verdict = decide(scored.score, scored.passed_any, threshold, k=k, last=last)
    assert (verdict is Verdict.ACCEPT) == (scored.score >= threshold)
    if verdict is Verdict.ACCEPT:
        assert decide(scored.score, True, threshold / 2, k=k, last=last) is Verdict.ACCEPT


def test_k0_is_untested_and_the_last_tier_answers() -> None:
    assert decide(0.0, False, 1.0, k=0, last=False) is Verdict.UNTESTED
    assert decide(0.2, True, 0.9, k=5, last=True) is Verdict.ANSWER
    assert decide(0.2, True, 0.9, k=5, last=False) is Verdict.ESCALATE
    assert decide(0.0, False, 0.0, k=5, last=False) is Verdict.ESCALATE
    assert decide(0.9, True, 0.9, k=5, last=True) is Verdict.ACCEPT
