"""The options beyond the paper (issue 18), offline, on the committed headline cache.

The cache is format 2 (it has the cross matrix); a copy without `cache_format` and without
`cross.jsonl` is a format 1 cache and must still read, with the options needing cross cells
left out. Early exit must make the decision the full tier makes; carried tests and union
selection read cells the tier's own matrix lacks from the cross matrix.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from codecascade.evaluation.cache import CACHE_FORMAT, CrossRecord, EvalCache
from codecascade.evaluation.grid import (
    Config,
    OutcomeTable,
    TierSetting,
    configurations,
    option_configurations,
)
from codecascade.evaluation.options import ProblemRecords, step_outcome

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / "benchmarks" / "results" / "eval-humaneval"


@pytest.fixture(scope="module")
def table() -> OutcomeTable:
    return OutcomeTable.from_cache(EvalCache.load(CACHE))


def test_the_headline_cache_is_format_2_with_a_cross_matrix_per_problem(
    table: OutcomeTable,
) -> None:
    cache = EvalCache.load(CACHE)
    assert cache.settings.cache_format == CACHE_FORMAT == 2
    assert table.cross and len(cache.cross()) == 164


def test_a_format_1_cache_still_reads_and_leaves_out_what_needs_cross_cells(
    tmp_path: Path,
) -> None:
    old = tmp_path / "old"
    old.mkdir()
    for path in CACHE.glob("*-M.jsonl"):
        shutil.copy(path, old / path.name)
    settings = json.loads((CACHE / "settings.json").read_text())
    settings.pop("cache_format")
    settings["tiers"] = [t for t in settings["tiers"] if t["name"] == "M"]
    settings["task_ids"] = settings["task_ids"][:5]
    (old / "settings.json").write_text(json.dumps(settings))
    cache = EvalCache.load(old)
    assert cache.settings.cache_format == 1 and cache.cross() == {}
    table = OutcomeTable.from_cache(cache)
    assert not table.cross and len(table.task_ids) == 5
    assert list(table.configurations(("carry", "union"))) == list(table.configurations())
    early = [c for c in table.configurations(("early",)) if not c.plain]
    assert early and all(s.batch for c in early for _, s in c.steps if not s.plain)
    table.point(early[0])


def test_a_cross_record_of_an_unknown_version_is_refused() -> None:
    line = {"task_id": "x", "rows": [], "columns": [], "matrix": [], "version": 2}
    with pytest.raises(Exception, match="version 2"):
        CrossRecord.from_json(line)


@pytest.mark.parametrize("theta", [0.3, 0.6, 1.0])
@pytest.mark.parametrize("setting", [TierSetting(3, 2), TierSetting(5, 4, t=0)])
def test_early_exit_makes_the_decision_of_the_full_tier_for_fewer_tokens(
    table: OutcomeTable, setting: TierSetting, theta: float
) -> None:
    full = Config((("M", TierSetting(setting.k, setting.l, theta)), ("L", TierSetting(0, 0))))
    early = Config((("M", TierSetting(setting.k, setting.l, theta, batch=1)), full.steps[1]))
    a, b = table.per_problem(full), table.per_problem(early)
    np.testing.assert_array_equal(a.visited, b.visited)
    assert (b.tokens <= a.tokens + 1e-9).all()
    went_on = a.visited == 2
    np.testing.assert_array_equal(a.correct[went_on], b.correct[went_on])


def test_a_carried_test_reads_the_cross_matrix_and_l0_pays_no_test_tokens(
    table: OutcomeTable,
) -> None:
    assert table.records is not None

    def novel(records: ProblemRecords) -> bool:  # M kept an assert L never wrote
        m_tests = step_outcome(records, "M", TierSetting(3, 2), last=False).tests
        return any(c not in records.exes["L"].columns for c in m_tests)

    records = next(r for r in table.records if novel(r))
    m_tests = step_outcome(records, "M", TierSetting(3, 2), last=False).tests
    bare = step_outcome(records, "L", TierSetting(5, 0, carry=True), last=True, carried=m_tests)
    assert set(m_tests) <= set(bare.tests)
    gen = records.gens["L"]
    assert bare.tokens == sum(c.tokens for c in gen.samples[:5])
    alone = step_outcome(records, "L", TierSetting(5, 0), last=True)
    assert len(alone.tests) < len(bare.tests)  # the examples only, without M's asserts


def test_union_may_answer_with_a_lower_tiers_candidate(table: OutcomeTable) -> None:
    config = Config((("M", TierSetting(3, 2, 1.0)), ("L", TierSetting(5, 2, union=True))))
    outcomes = table.per_problem(config)
    assert outcomes.answer_tier is not None
    assert (outcomes.answer_tier[outcomes.visited == 1] == 0).all()
    assert (outcomes.answer_tier[outcomes.visited == 2] == 0).any()  # an M candidate won


def test_option_configurations_leave_the_papers_grid_alone() -> None:
    paper = set(configurations(("M", "L"), 5, 4))
    extra = list(option_configurations(("M", "L"), 5, 4, ("early", "carry", "union")))
    assert not paper & set(extra)
    assert all(not c.plain for c in extra)
    with pytest.raises(ValueError, match="unknown options"):
        list(option_configurations(("M", "L"), 5, 4, ("magic",)))


def test_the_last_tiers_greedy_answer_first_answers_with_it_when_it_passes_what_was_carried(
    table: OutcomeTable,
) -> None:
    checked = ("M", TierSetting(1, 2, 1.0))
    greedy = ("L", TierSetting(1, 0, 1.0, carry=True))
    samples = ("L", TierSetting(5, 0, 0.4, batch=2, carry=True))
    three = table.per_problem(Config((checked, greedy, samples)))
    two = table.per_problem(Config((checked, samples)))
    assert three.answer_tier is not None and three.answer is not None
    greedy_row = len(table.records[0].gens["L"].samples) if table.records else -1
    stopped = three.visited == 2  # L's greedy answer passed every carried assert
    assert stopped.any() and (three.visited == 3).any()
    assert (three.answer[stopped] == greedy_row).all() and (three.answer_tier[stopped] == 1).all()
    assert (three.answer_tier[three.visited == 3] == 2).all()  # the later L step's sample
    # M's decisions are the same; past M, the greedy step costs its one answer on top.
    assert ((three.visited == 1) == (two.visited == 1)).all()
    assert (three.correct[three.visited == 1] == two.correct[two.visited == 1]).all()


def test_greedy_first_configurations_list_the_last_tier_twice_and_only_on_request() -> None:
    extra = list(option_configurations(("M", "L"), 5, 4, ("greedy",)))
    assert extra and all(c.tiers == ("M", "L", "L") for c in extra)
    assert all(c.steps[1][1].k == 1 and c.steps[1][1].carry for c in extra)
    others = option_configurations(("M", "L"), 5, 4, ("early", "carry", "union"))
    assert all(len(set(c.tiers)) == len(c.steps) for c in others)
