from __future__ import annotations

import pytest

from codecascade.core.errors import NoFunctionToTest
from codecascade.core.task import make_problem
from codecascade.testsynth.errors import UnknownTier
from codecascade.testsynth.prompts import build_test_prompt
from codecascade.testsynth.synthesis import AssertSynthesizer, SynthesisRequest
from tests.doubles import HUMANEVAL_INC as HUMANEVAL
from tests.doubles import ScriptedTier, scripted_registry


def test_problem_styles_and_entry_points() -> None:
    assert make_problem(HUMANEVAL).entry_point == "inc"
    mbpp = make_problem("Write a function to add one.", example_test="assert inc(1) == 2")
    assert (mbpp.style, mbpp.entry_point) == ("mbpp", "inc")
    for bad in ("", "   ", "Write something."):
        with pytest.raises(NoFunctionToTest):
            make_problem(bad)
    with pytest.raises(NoFunctionToTest):
        make_problem(HUMANEVAL, entry_point="missing")


def test_base_prompt_ends_in_assert_and_is_glued_back() -> None:
    prompt = build_test_prompt(make_problem(HUMANEVAL), lines=3, instruct=False)
    assert (
        prompt.text.endswith("\n\nassert")
        and "Assume the above function is completed" in prompt.text
    )
    assert (prompt.format, prompt.completion_prefix) == ("raw", "assert")


async def test_generations_are_parsed_capped_deduplicated_with_provenance() -> None:
    tier = ScriptedTier(
        (
            "```python\nassert inc(1) == 2\nassert inc(2) == 3\nassert inc(3) == 4\n```",
            "assert inc(1) == 2\nassert inc(0) == 1\nimport os",
            "Sorry, I can't.",
        )
    )
    request = SynthesisRequest(
        make_problem(HUMANEVAL), "S", 3, 2, 10, seed=7, include_prompt_examples=False
    )
    result = await AssertSynthesizer(scripted_registry(tier)).synthesize(request, timeout_s=5)
    assert [(t.code, t.generation_index) for t in result.tests] == [
        ("assert inc(1) == 2", 0),
        ("assert inc(2) == 3", 0),
        ("assert inc(0) == 1", 1),
    ]
    reasons = {(d.generation_index, d.line.reason) for d in result.dropped}
    assert (0, "beyond the first 2 asserts") in reasons
    assert not any("duplicate" in reason for _, reason in reasons)  # a repeat is support
    _, params, fmt = tier.calls[0]
    assert (params.n, params.temperature, params.seed, fmt) == (3, 0.8, 7, "chat")
    assert result.cost_usd == 0.02


async def test_greedy_for_one_generation_and_raw_for_base_models() -> None:
    tier = ScriptedTier((" inc(5) == 6\n",))
    request = SynthesisRequest(
        make_problem(HUMANEVAL), "S", 1, 4, 10, include_prompt_examples=False
    )
    result = await AssertSynthesizer(scripted_registry(tier, "raw")).synthesize(
        request, timeout_s=5
    )
    assert [t.code for t in result.tests] == ["assert inc(5) == 6"]
    assert tier.calls[0][1].temperature == 0.0 and tier.calls[0][2] == "raw"


async def test_unknown_tier_is_not_found() -> None:
    request = SynthesisRequest(make_problem(HUMANEVAL), "XL", generations=1, lines=1, max_tests=1)
    with pytest.raises(UnknownTier, match="known: S"):
        await AssertSynthesizer(scripted_registry(ScriptedTier(()))).synthesize(
            request, timeout_s=5
        )


def test_prompt_examples_come_first_unless_excluded() -> None:
    from codecascade.testsynth.examples import prompt_examples

    examples = prompt_examples(make_problem(HUMANEVAL))
    assert examples.asserts == ("assert inc(1) == 2",)
    informal = make_problem(
        "def f(s):\n    '''Docs.\n    f('ab') => True\n    f(x) => False\n"
        "    f('a') should return False.\n    '''\n"
    )
    parsed = prompt_examples(informal)
    assert parsed.asserts == ("assert f('ab') == True", "assert f('a') == False")
    assert "undefined name 'x'" in parsed.dropped[0].reason
    mbpp = make_problem("Add one.", example_test="assert inc(1) == 2")
    assert prompt_examples(mbpp).asserts == ("assert inc(1) == 2",)


async def test_synthesis_marks_prompt_examples_with_generation_minus_one() -> None:
    tier = ScriptedTier(("assert inc(1) == 2\nassert inc(5) == 6",))
    request = SynthesisRequest(make_problem(HUMANEVAL), "S", generations=1, lines=4, max_tests=10)
    result = await AssertSynthesizer(scripted_registry(tier)).synthesize(request, timeout_s=5)
    assert [(t.code, t.generation_index) for t in result.tests] == [
        ("assert inc(1) == 2", -1),
        ("assert inc(5) == 6", 0),
    ]
    alone = SynthesisRequest(
        make_problem(HUMANEVAL),
        "S",
        generations=1,
        lines=4,
        max_tests=10,
        include_prompt_examples=False,
    )
    result = await AssertSynthesizer(scripted_registry(tier)).synthesize(alone, timeout_s=5)
    assert [t.generation_index for t in result.tests] == [0, 0]
