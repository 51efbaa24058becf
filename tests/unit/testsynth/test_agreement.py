from __future__ import annotations

import pytest

from codecascade.core.task import make_problem
from codecascade.testsynth.agreement import AgreementRule, Claim, claim_of, select_by_agreement
from codecascade.testsynth.synthesis import AssertSynthesizer, SynthesisRequest
from tests.doubles import HUMANEVAL_INC, ScriptedTier, scripted_registry

ANY = AgreementRule(min_support=1)  # every uncontradicted claim


@pytest.mark.parametrize(
    ("code", "claim"),
    [
        ("assert f(1) == 2", Claim("f(1)", "2")),
        ("assert 2 == f(1)", Claim("f(1)", "2")),
        ("assert f(1) == 2.0", Claim("f(1)", "2")),
        ("assert f([1,2]) == [1, 2]", Claim("f([1, 2])", "[1, 2]")),
        ("assert abs(f(0.5) - 0.25) <= 1e-06", Claim("f(0.5)", "0.25")),
        ("assert f('a')", Claim("f('a')", "True")),
        ("assert not f('a')", Claim("f('a')", "False")),
        ("assert f(1) is None", Claim("f(1)", "None")),
        ("assert len(f(3)) == 3", Claim("len(f(3))", "3")),
        ("assert f(1) < f(2)", None),  # a relation between calls states no value
        ("assert f(1) > 0", None),
        ("assert g(1) == 2", None),  # does not call the entry point
        ("x = f(1)", None),
        ("not python (", None),
    ],
)
def test_claims(code: str, claim: Claim | None) -> None:
    found = claim_of(code, "f")
    assert (
        (found.call, found.value) == (claim.call, claim.value)
        if claim and found
        else found == claim
    )


def test_task_examples_overrule_the_model() -> None:
    selection = select_by_agreement(
        [["assert f(1) == 3", "assert f(2) == 4"]],
        entry_point="f",
        examples=["assert f(1) == 2"],
    )
    assert [t.code for t in selection.kept] == ["assert f(2) == 4"]
    assert "contradicts the task's own example" in selection.rejected[0].reason


def test_plurality_wins_and_ties_drop_every_value() -> None:
    generations = [
        ["assert f(1) == 2", "assert f(5) == 1"],
        ["assert f(1) == 2", "assert f(5) == 2"],
        ["assert f(1) == 3", "assert f(7) == 0"],
    ]
    selection = select_by_agreement(generations, entry_point="f", rule=ANY)
    assert [(t.code, t.support) for t in selection.kept] == [
        ("assert f(1) == 2", 2),  # most-supported first
        ("assert f(7) == 0", 1),
    ]
    reasons = {r.code: r.reason for r in selection.rejected}
    assert reasons["assert f(1) == 3"].startswith("outvoted on f(1)")
    assert "tied" in reasons["assert f(5) == 1"] and "tied" in reasons["assert f(5) == 2"]


def test_one_generation_contradicting_itself_keeps_nothing_of_that_call() -> None:
    selection = select_by_agreement(
        [["assert f('o|') == [2]", "assert f('o|') == [1]", "assert f('') == []"]],
        entry_point="f",
        rule=ANY,
    )
    assert [t.code for t in selection.kept] == ["assert f('') == []"]


def test_min_support_needs_independent_generations_and_is_capped() -> None:
    generations = [
        ["assert f(1) == 2", "assert f(3) > 0"],
        ["assert f(1) == 2.0", "assert f(3) > 0"],
    ]
    both = select_by_agreement(generations, entry_point="f", rule=AgreementRule(2))
    # The same claim spelt twice is one test, kept in the first spelling.
    assert [(t.code, t.generation_index, t.support) for t in both.kept] == [
        ("assert f(1) == 2", 0, 2),
        ("assert f(3) > 0", 0, 2),
    ]
    lone = select_by_agreement(
        [["assert f(9) == 1"], ["assert f(8) == 1"]], entry_point="f", rule=AgreementRule(2)
    )
    assert not lone.kept and all("1 of 2 generations" in r.reason for r in lone.rejected)
    single = select_by_agreement([["assert f(9) == 1"]], entry_point="f", rule=AgreementRule(3))
    assert [t.code for t in single.kept] == ["assert f(9) == 1"]


async def test_synthesizer_applies_agreement_after_the_task_examples() -> None:
    tier = ScriptedTier(
        ("assert inc(1) == 3\nassert inc(4) == 5", "assert inc(4) == 5\nassert inc(9) == 1")
    )
    request = SynthesisRequest(
        make_problem(HUMANEVAL_INC),
        "S",
        generations=2,
        lines=4,
        max_tests=10,
        agreement=AgreementRule(2),
    )
    result = await AssertSynthesizer(scripted_registry(tier)).synthesize(request, timeout_s=5)
    origins = [(t.code, t.generation_index) for t in result.tests]
    assert origins[-1] == ("assert inc(4) == 5", 0)
    assert all(index == -1 for _, index in origins[:-1])  # the task's own examples lead
    reasons = {d.line.text: d.line.reason for d in result.dropped}
    assert "need 2" in reasons["assert inc(9) == 1"]
    assert "contradicts" in reasons["assert inc(1) == 3"]


def test_a_lone_claim_survives_when_its_input_is_short() -> None:
    generations = [
        ["assert f([1, 2]) == 3", "assert f([3, 1, 4, 1, 5, 9]) == 23"],
        ["assert f([]) == 0"],
    ]
    rule = AgreementRule(min_support=2, max_lone_argument_chars=6)
    selection = select_by_agreement(generations, entry_point="f", rule=rule)
    assert [t.code for t in selection.kept] == ["assert f([1, 2]) == 3", "assert f([]) == 0"]
    (rejected,) = selection.rejected
    assert rejected.code.startswith("assert f([3, 1") and "longer than 6" in rejected.reason


def test_argument_size_counts_the_entry_points_arguments_only() -> None:
    claim = claim_of("assert len(f('abc', k=2)) == 3", "f")
    assert claim == Claim("len(f('abc', k=2))", "3", len("'abc', k=2"))
    with pytest.raises(ValueError, match="invalid agreement rule"):
        AgreementRule(min_support=0)


def test_a_confused_tier_gets_no_lone_claims() -> None:
    rule = AgreementRule(min_support=2, max_lone_argument_chars=6)
    # The generations give f(1) two values: the tier is confused about this task.
    confused = [["assert f(1) == 2", "assert f([]) == 0"], ["assert f(1) == 3"]]
    selection = select_by_agreement(confused, entry_point="f", rule=rule)
    assert not selection.kept
    reasons = {r.code: r.reason for r in selection.rejected}
    assert "contradict each other or the examples" in reasons["assert f([]) == 0"]
    # Contradicting the task's own example is confusion too.
    wrong_example = [["assert f(1) == 5", "assert f([]) == 0"], ["assert f(2) == 3"]]
    gated = select_by_agreement(
        wrong_example, entry_point="f", examples=["assert f(1) == 2"], rule=rule
    )
    assert not gated.kept
