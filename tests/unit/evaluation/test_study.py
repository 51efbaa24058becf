"""The multi-seed study of the options beyond the paper, on the committed cache (tiers M and L).

Cheap enough for the default suite: two tiers, two seeds, the paper's grid, early exit and the
pre-router (trained per seed on the validation split only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codecascade.evaluation.cache import EvalCache
from codecascade.evaluation.calibrate import split
from codecascade.evaluation.datasets import load_dataset
from codecascade.evaluation.grid import OutcomeTable
from codecascade.evaluation.report import render_study
from codecascade.evaluation.study import Study, oracle, run_study

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / "benchmarks" / "results" / "eval-humaneval"


@pytest.fixture(scope="module")
def studies() -> tuple[OutcomeTable, list[Study]]:
    table = OutcomeTable.from_cache(EvalCache.load(CACHE), ["M", "L"])
    problems = {p.task_id: p.problem for p in load_dataset("humaneval")}
    sets = {"paper": (), "early exit": ("early",), "pre-router": ("prerouter",)}
    return table, run_study(
        table, problems, seeds=(0, 1), option_sets=sets, fractions=(0.2, 0.5), budget_per_1k=0.2
    )


def test_every_option_set_is_reported_per_seed_against_the_same_reference(
    studies: tuple[OutcomeTable, list[Study]],
) -> None:
    _, results = studies
    references = {
        (r.seed, r.reference.accuracy, r.reference.cost) for s in results for r in s.seeds
    }
    assert len(references) == 2  # one per seed, whatever the option set
    paper = results[0]
    assert all(c.config.plain for r in paper.seeds for c in r.front)
    assert any(s.batch for r in results[1].seeds for c in r.front for _, s in c.config.steps)
    for study in results:
        assert set(study.by_mean) == {0.2, 0.5} and study.at_budget
        costs = [np.mean([c.validation_cost for c in study.by_mean[f]]) for f in (0.2, 0.5)]
        assert costs[0] <= costs[1]


def test_the_oracle_is_the_cheapest_passing_answer(
    studies: tuple[OutcomeTable, list[Study]],
) -> None:
    table, results = studies
    held = split(table.task_ids, seed=0).held_out
    accuracy, cost = oracle(table, held)
    assert accuracy == results[0].seeds[0].oracle[0]
    every = oracle(table, np.arange(len(table.task_ids)))
    assert every == pytest.approx((0.884, 0.0282), abs=5e-4)  # issue 18's figures (M and L)
    assert cost > 0


def test_the_report_block_has_a_row_per_option_set_and_budget(
    studies: tuple[OutcomeTable, list[Study]],
) -> None:
    _, results = studies
    block = render_study(results, dataset="humaneval")
    assert block.count("| paper | 20 % |") == 2 and "| pre-router |" in block


def test_the_study_plot_is_written(
    studies: tuple[OutcomeTable, list[Study]], tmp_path: Path
) -> None:
    from codecascade.evaluation.plots import plot_study

    _, results = studies
    path = plot_study(results, tmp_path / "options.png", title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
