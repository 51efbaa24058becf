"""Pareto front, budget choice, split, the written policy and the generated results block."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codecascade.core.tiers import TierSpec
from codecascade.evaluation.cache import (
    AssertGeneration,
    Call,
    EvalCache,
    EvalSettings,
    GenerationRecord,
)
from codecascade.evaluation.calibrate import calibrate, split, to_config, to_policy
from codecascade.evaluation.errors import CacheMismatch, NothingFits
from codecascade.evaluation.grid import Config, OutcomeTable, Point, TierOutcome, TierSetting
from codecascade.evaluation.pareto import choose, pareto_front
from codecascade.evaluation.report import BEGIN, END, render, write_block
from codecascade.router.policy import CascadePolicy


def _tier(name: str, price: float) -> TierSpec:
    return TierSpec(name=name, model=name, price_per_1k_tokens=price)


def _point(cost: float, accuracy: float, k: int = 3) -> Point:
    return Point(Config((("S", TierSetting(k, 2)),)), accuracy, cost, 0.0, 0.0, 10)


def test_front_keeps_only_undominated_points_cheapest_first() -> None:
    points = [_point(5, 0.5), _point(1, 0.2), _point(3, 0.2), _point(2, 0.6), _point(9, 0.6)]
    front = pareto_front(points)
    assert [(p.cost_per_1k, p.accuracy) for p in front] == [(1, 0.2), (2, 0.6)]
    assert choose(front, 1.5).cost_per_1k == 1
    assert choose(front, 100).accuracy == 0.6
    with pytest.raises(NothingFits, match="cheapest costs"):
        choose(front, 0.5)


def test_split_is_seeded_and_thirty_percent() -> None:
    ids = tuple(f"t{i}" for i in range(20))
    first, again = split(ids, seed=3), split(ids, seed=3)
    assert list(first.validation) == list(again.validation)
    assert len(first.validation) == 6 and len(first.held_out) == 14
    assert not set(first.validation) & set(first.held_out)
    assert list(split(ids, seed=4).validation) != list(first.validation)


def _table(n: int = 20) -> OutcomeTable:
    outcomes: dict[tuple[str, int, int, int], list[TierOutcome]] = {}
    for t, (tier, skill) in enumerate((("S", 0.3), ("M", 0.7))):
        for k, line in ((0, 0), (1, 2), (3, 2)):
            outcomes[(tier, k, line, 0)] = [
                TierOutcome(
                    score=((i * 7 + k + t) % 10) / 10,
                    passed_any=i % 4 != 0,
                    correct=((i * 13 + k) % 10) / 10 < skill,
                    tokens=100.0 * (k + 1),
                    cpu_s=float(k + 1),
                )
                for i in range(n)
            ]
    return OutcomeTable(
        [f"p{i}" for i in range(n)], {"S": 0.1, "M": 1.0}, outcomes, k_max=3, l_max=2
    )


def test_calibration_is_deterministic_and_within_budget() -> None:
    table = _table()
    result = calibrate(table, 150.0, seed=1)
    again = calibrate(table, 150.0, seed=1)
    assert result.chosen == again.chosen and result.front == again.front
    assert result.chosen.cost_per_1k <= 150.0
    assert result.chosen in result.front
    assert result.held_out.problems == 14 and result.chosen.problems == 6
    assert result.configurations == len(list(table.configurations()))
    assert {b.config.tiers for b, _ in result.baselines} == {("S",), ("M",)}


def test_policy_round_trips_through_the_router_schema() -> None:
    config = Config((("S", TierSetting(3, 2, 0.9, t=5)), ("L", TierSetting(10, 4))))
    policy = to_policy(config, ("S", "M", "L"), max_tokens=384, description="test")
    loaded = CascadePolicy.from_yaml(policy.to_yaml())
    assert loaded == policy
    assert [(t.tier, t.k, t.test_lines, t.generations, t.threshold) for t in loaded.tiers] == [
        ("S", 3, 2, 5, 0.9),
        ("M", -1, 0, -1, 1.0),
        ("L", 10, 4, 10, 1.0),
    ]
    assert to_config(loaded) == config  # skipped tiers drop out; the last tier's θ is 1.0


def test_report_block_is_replaced_in_place(tmp_path: Path) -> None:
    table = _table()
    settings = EvalSettings("humaneval", (_tier("S", 0.1), _tier("M", 1.0)), 3, 2, 7, 384)
    block = render(settings, calibrate(table, 150.0), 20, plots=["results/pareto.png"])
    assert "Smaller grid than the paper's" in block and "![pareto](results/pareto.png)" in block
    page = tmp_path / "results.md"
    page.write_text(f"# Results\nhand-written\n\n{BEGIN}\nold\n{END}\n\nfooter\n", "utf-8")
    write_block(page, block)
    text = page.read_text("utf-8")
    assert "old" not in text and "hand-written" in text and text.endswith("footer\n")
    assert text.count(BEGIN) == 1


def test_report_names_only_the_tiers_calibrated() -> None:
    # `cascade calibrate --tiers S M` on a cache that also holds L (still generating).
    prices = (_tier("S", 0.1), _tier("M", 1.0), _tier("L", 3.0))
    settings = EvalSettings("humaneval", prices, 3, 2, 7, 384)
    block = render(settings, calibrate(_table(), 150.0), 20)
    assert "tiers S ($0.1/1k tokens), M ($1/1k tokens);" in block and "L (" not in block


def _generation(task: str) -> GenerationRecord:
    call = Call("text", 1, 0.1, 0.1, "code")
    return GenerationRecord(task, "S", (), call, (), AssertGeneration((), 0, 0.0, 0.0), ())


def test_cache_refuses_other_settings_and_survives_a_torn_line(tmp_path: Path) -> None:
    settings = EvalSettings("humaneval", (_tier("S", 0.1),), 3, 2, 7, 384, ("a", "b"))
    cache = EvalCache.open(tmp_path, settings)
    cache.add_generation(_generation("a"))
    with (tmp_path / "generations-S.jsonl").open("a") as handle:
        handle.write('{"task_id": "b", "tier"')  # killed mid-write
    cache.add_generation(_generation("b"))
    assert sorted(EvalCache.load(tmp_path).generations("S")) == ["a", "b"]
    more = EvalSettings("humaneval", (_tier("S", 0.1),), 3, 2, 7, 384, ("b", "c"))
    assert EvalCache.open(tmp_path, more).settings.task_ids == ("a", "b", "c")  # --limit grew
    other = EvalSettings("humaneval", (_tier("S", 0.1),), 5, 2, 7, 384)
    with pytest.raises(CacheMismatch, match="k_max"):
        EvalCache.open(tmp_path, other)
    assert json.loads((tmp_path / "settings.json").read_text())["k_max"] == 3


def test_a_cache_from_one_request_per_sample_is_not_extended(tmp_path: Path) -> None:
    settings = EvalSettings("humaneval", (_tier("S", 0.1),), 3, 2, 7, 384, ("a",))
    old = settings.to_json()
    del old["harvest_version"]  # written before samples shared a request
    (tmp_path / "settings.json").write_text(json.dumps(old))
    with pytest.raises(CacheMismatch, match="harvest_version"):
        EvalCache.open(tmp_path, settings)
    assert EvalCache.load(tmp_path).settings.harvest_version == 1  # still readable offline
