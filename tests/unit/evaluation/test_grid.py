"""The offline grid from a hand-made cache: sub-matrices, test-line costs, cascades, the rules."""

from __future__ import annotations

import pytest

from codecascade.evaluation.cache import (
    AssertGeneration,
    Call,
    ExecutionRecord,
    GenerationRecord,
)
from codecascade.evaluation.execute import layout
from codecascade.evaluation.grid import (
    THETAS,
    Config,
    OutcomeTable,
    TierOutcome,
    TierSetting,
    configurations,
    tier_outcome,
    tier_settings,
)

EX, A, B, C, D, E = (f"assert f({i}) == {i}" for i in range(6))  # equal lengths


def _call(tokens: int) -> Call:
    return Call(text="", tokens=tokens, cpu_s=tokens / 10, wall_s=0.0, code=f"code{tokens}")


def _record() -> tuple[GenerationRecord, ExecutionRecord]:
    gen = GenerationRecord(
        task_id="t0",
        tier="S",
        samples=(_call(10), _call(20), _call(30)),
        greedy=_call(5),
        test_generations=(
            AssertGeneration((A, B), 8, 0.8, 0.0),
            AssertGeneration((B, C), 8, 0.8, 0.0),
            AssertGeneration((D,), 4, 0.4, 0.0),
        ),
        greedy_tests=AssertGeneration((A, E), 6, 0.6, 0.0),
        examples=(EX,),
        entry_point="f",  # every assert a lone claim about a short input: all kept
    )
    columns, examples, generations, greedy = layout(gen)
    exe = ExecutionRecord(
        task_id="t0",
        tier="S",
        columns=columns,
        example_columns=examples,
        generation_columns=generations,
        greedy_columns=greedy,
        #        EX A  B  C  D  E
        matrix=("111101", "110000", "000000", "110001"),
        hidden="1000",  # s0 right; s1, s2 and the greedy answer wrong
    )
    return gen, exe


def test_layout_stores_each_assert_position_once() -> None:
    _, exe = _record()
    assert exe.columns == (EX, A, B, C, D, E)
    assert exe.example_columns == (0,)
    assert exe.generation_columns == ((1, 2), (2, 3), (4,))
    assert exe.greedy_columns == (1, 5)


def test_k0_is_the_greedy_answer_untested() -> None:
    outcome = tier_outcome(*_record(), 0, 0)
    assert outcome == TierOutcome(1.0, False, False, 5.0, 0.5, answer=3)  # row 3: greedy


def test_k3_l1_takes_first_asserts_and_scales_test_tokens() -> None:
    outcome = tier_outcome(*_record(), 3, 1)
    # columns EX, A (gen 0), B (gen 1), D (gen 2); s0 passes 3, EX is passed by 2: 6 / 12.
    assert outcome.score == pytest.approx(0.5)
    assert outcome.passed_any and outcome.correct
    # 60 answer tokens; gens 0 and 1 used half their assert text, gen 2 all of it.
    assert outcome.tokens == pytest.approx(60 + 4 + 4 + 4)
    assert outcome.cpu_s == pytest.approx(6.0 + 0.4 + 0.4 + 0.4)


def test_k3_l2_deduplicates_columns() -> None:
    outcome = tier_outcome(*_record(), 3, 2)
    # columns EX, A, B, C, D (B once): s0 passes 4, EX passed by 2: 8 / 15.
    assert outcome.score == pytest.approx(8 / 15)
    assert outcome.tokens == pytest.approx(60 + 8 + 8 + 4)


def test_k1_is_the_greedy_answer_against_the_greedy_tests() -> None:
    outcome = tier_outcome(*_record(), 1, 2)
    assert outcome.score == pytest.approx(1.0)
    assert not outcome.correct  # agreement is not correctness
    assert outcome.tokens == pytest.approx(5 + 6)


def test_nothing_passing_scores_zero_and_answers_the_first_sample() -> None:
    gen, exe = _record()
    exe = ExecutionRecord(**{**exe.to_json(), "matrix": ("000000",) * 4, "hidden": "1000"})
    outcome = tier_outcome(gen, ExecutionRecord.from_json(exe.to_json()), 3, 2)
    assert (outcome.score, outcome.passed_any, outcome.correct) == (0.0, False, True)
    assert not outcome.accepts(0.1)


def _table() -> OutcomeTable:
    s = [TierOutcome(0.9, True, True, 100, 1.0, 0), TierOutcome(0.5, True, False, 100, 1.0, 2)]
    m = [TierOutcome(1.0, False, True, 50, 2.0, 5), TierOutcome(1.0, False, True, 50, 2.0, 5)]
    return OutcomeTable(
        ["p0", "p1"],
        {"S": 1.0, "M": 10.0},
        {("S", 3, 2, 0): s, ("M", 0, 0, 0): m},
        k_max=3,
        l_max=2,
    )


def test_cascade_escalates_below_threshold_and_pays_for_every_tier_visited() -> None:
    table = _table()
    config = Config((("S", TierSetting(3, 2, 0.8)), ("M", TierSetting(0, 0))))
    point = table.point(config)
    assert point.accuracy == 1.0
    # p0: S only, 100 tokens x $1/1k; p1: S then M, + 50 tokens x $10/1k; mean x 1000.
    assert point.cost_per_1k == pytest.approx((0.1 + 0.6) / 2 * 1000)
    assert point.cpu_s == pytest.approx((1.0 + 3.0) / 2)
    lenient = table.point(Config((("S", TierSetting(3, 2, 0.4)), ("M", TierSetting(0, 0)))))
    assert lenient.accuracy == 0.5
    assert lenient.cost_per_1k == pytest.approx(100.0)


def test_per_problem_says_which_tiers_were_visited_and_which_row_answered() -> None:
    config = Config((("S", TierSetting(3, 2, 0.8)), ("M", TierSetting(0, 0))))
    outcomes = _table().per_problem(config)
    # p0 accepted at S (0.9 >= 0.8) with S's row 0; p1 escalated to M, answered by its row 5.
    assert outcomes.visited.tolist() == [1, 2]
    assert outcomes.answer.tolist() == [0, 5]
    assert outcomes.correct.tolist() == [True, True]
    assert outcomes.cost.tolist() == pytest.approx([0.1, 0.6])
    assert outcomes.tokens.tolist() == pytest.approx([100, 150])


def test_the_last_tier_answers_whatever_it_scores() -> None:
    point = _table().point(Config((("S", TierSetting(3, 2)),)))
    assert point.accuracy == 0.5


def test_settings_follow_the_method_rules() -> None:
    early = tier_settings(10, 4, last=False)
    final = tier_settings(10, 4, last=True)
    # k 1, 3, 5, 10 (3 and 5 also with t = 10); l 2, 4
    assert len(early) == (4 + 2) * 2 * len(THETAS)
    assert all(s.k >= 1 and s.l in (2, 4) for s in early)
    assert TierSetting(0, 0) in final and all(s.k != 1 for s in final)
    assert {s.theta for s in final} == {1.0}
    assert tier_settings(3, 2, last=True) == [TierSetting(0, 0), TierSetting(3, 2)]


def test_configurations_are_ordered_subsets() -> None:
    configs = list(configurations(["S", "M", "L"], 3, 2))
    early, final = len(tier_settings(3, 2, last=False)), len(tier_settings(3, 2, last=True))
    assert len(configs) == 3 * final + 3 * early * final + early * early * final
    order = ["S", "M", "L"]
    for config in configs:
        places = [order.index(t) for t in config.tiers]
        assert places == sorted(places)
        assert all(s.k != 0 for _, s in config.steps[:-1])
    assert configs == list(configurations(["S", "M", "L"], 3, 2))  # deterministic


def test_columns_follow_the_products_agreement_selection() -> None:
    gen, exe = _record()
    wrong = "assert f(0) == 9"  # contradicts the task's example f(0) == 0
    gen = GenerationRecord(
        **{
            **gen.to_json(),
            "samples": gen.samples,
            "greedy": gen.greedy,
            "test_generations": (AssertGeneration((wrong, A), 8, 0.8, 0.0),),
            "greedy_tests": AssertGeneration((wrong,), 4, 0.4, 0.0),
            "examples": (EX,),
            "entry_point": "f",
        }
    )
    columns, examples, generations, greedy = layout(gen)
    exe = ExecutionRecord(
        task_id="t0",
        tier="S",
        columns=columns,  # EX, wrong, A
        example_columns=examples,
        generation_columns=generations,
        greedy_columns=greedy,
        matrix=("101", "100", "100", "010"),
        hidden="1000",
    )
    # k = 1: the greedy answer passes only `wrong`, which contradicts EX and is not a column,
    # so nothing passes (were `wrong` kept, the answer would count as tested and passing).
    assert not tier_outcome(gen, exe, 1, 2).passed_any


def test_t_uses_more_test_generations_than_k() -> None:
    # k = 2 with every cached generation (t = 3): gen 2's D is a column too, and costs tokens.
    two = tier_outcome(*_record(), 2, 2)
    more = tier_outcome(*_record(), 2, 2, 3)
    assert more.tokens == pytest.approx(two.tokens + 4)
    with pytest.raises(ValueError, match="t = 4 but the cache has 3 generations"):
        tier_outcome(*_record(), 2, 2, 4)


def test_settings_offer_t_at_k_max_for_smaller_sampled_k() -> None:
    final = tier_settings(5, 2, last=True)
    assert TierSetting(3, 2, 1.0, 5) in final and TierSetting(3, 2) in final
    assert TierSetting(5, 2) in final and TierSetting(5, 2, 1.0, 5) not in final
    assert all(s.t == 0 for s in tier_settings(5, 2, last=False) if s.k == 1)
    assert TierSetting(3, 2, 0.5, 5).label(last=False) == "k3 t5 l2 θ0.5"


def test_wall_seconds_follow_the_calls_and_the_test_lines_used() -> None:
    # The autoscaler benchmark's service times: answer calls in full, test generations scaled
    # like their tokens (a request for fewer lines would have stopped earlier).
    gen, exe = _record()
    timed = GenerationRecord(
        **{
            **{f: getattr(gen, f) for f in gen.__dataclass_fields__},
            "samples": tuple(
                Call(c.text, c.tokens, c.cpu_s, c.tokens / 5, c.code) for c in gen.samples
            ),
            "greedy": Call("", 5, 0.5, 1.0, "code5"),
            "test_generations": tuple(
                AssertGeneration(g.asserts, g.tokens, g.cpu_s, 2.0) for g in gen.test_generations
            ),
            "greedy_tests": AssertGeneration(gen.greedy_tests.asserts, 6, 0.6, 3.0),
        }
    )
    assert tier_outcome(timed, exe, 0, 0).wall_s == pytest.approx(1.0)
    assert tier_outcome(timed, exe, 1, 1).wall_s == pytest.approx(1.0 + 1.5)
    # 60 answer tokens / 5 = 12 s; gens 0 and 1 half their text, gen 2 (one assert) all of it.
    assert tier_outcome(timed, exe, 3, 1).wall_s == pytest.approx(12.0 + 1.0 + 1.0 + 2.0)
