from __future__ import annotations

import pytest

from codecascade.core.code import extract_code
from codecascade.testsynth.parsing import defined_names, parse_asserts

PROMPT = 'from typing import List\nimport math\n\ndef add(xs: List[int]) -> int:\n    """Sum."""\n'


def _parse(text: str, limit: int | None = None):
    return parse_asserts(text, entry_point="add", prompt_names=defined_names(PROMPT), limit=limit)


def test_keeps_fenced_asserts_normalised_and_deduplicated() -> None:
    text = (
        "Here are tests:\n```python\nassert add([1, 2]) == 3\nassert add( [1,2] )==3, 'again'\n"
        "assert add([]) == 0\n```\nDone."
    )
    parsed = _parse(text)
    assert parsed.asserts == ("assert add([1, 2]) == 3", "assert add([]) == 0")
    assert [d.reason for d in parsed.dropped] == ["duplicate"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("assert other(1) == 2", "undefined name 'other'"),
        ("assert len([1]) == 1", "does not call add"),
        ("assert add([random.randint(0, 9)]) >= 0", "'random'"),
        ("assert add([time.time()]) > 0", "'time'"),
        ("assert add([1]) == 1 and print('x') is None", "'print'"),
        ("assert add([10**10**7]) > 0", "power"),
        ("assert add([123456789012345678901234567890123]) > 0", "oversized integer"),
        ("assert add(x) == 1", "undefined name 'x'"),
        ("assert add([1].__class__) == 1", "dunder"),
        ("assert True", "does not call add"),
    ],
)
def test_drops_with_a_reason(line: str, reason: str) -> None:
    parsed = _parse(line)
    assert parsed.asserts == ()
    assert reason in parsed.dropped[0].reason


def test_names_from_the_prompt_and_comprehensions_are_allowed() -> None:
    parsed = _parse(
        "assert add([math.floor(2.5)]) == 2\nassert all(add([i]) == i for i in range(3))\n"
        "assert add([2 ** 3]) == 8"
    )
    assert len(parsed.asserts) == 3


def test_broken_lines_do_not_cost_the_others() -> None:
    text = "assert add([1]) == 1\nassert add([2) == 2\nassert add([3,\n   4]) == 7\nassert add(["
    parsed = _parse(text)
    assert parsed.asserts == ("assert add([1]) == 1", "assert add([3, 4]) == 7")
    assert {d.reason for d in parsed.dropped} == {"not valid Python"}


def test_limit_keeps_the_first_l() -> None:
    parsed = _parse("\n".join(f"assert add([{i}]) == {i}" for i in range(6)), limit=4)
    assert len(parsed.asserts) == 4
    assert parsed.dropped[-1].reason == "beyond the first 4 asserts"


@pytest.mark.parametrize(
    "junk", ["", "\x00\x01", "```", "def add(:", "I cannot help", "é" * 10_000]
)
def test_junk_yields_nothing_and_never_raises(junk: str) -> None:
    assert _parse(junk).asserts == ()


def test_extract_code_prefers_python_blocks() -> None:
    assert extract_code("x\n```python\na = 1\n```\n```bash\nls\n```") == "a = 1\n"
    assert extract_code("assert f(1)") == "assert f(1)"


def test_asserts_inside_test_functions_and_main_guards_count() -> None:
    text = (
        "def test_add():\n    assert add([1]) == 1\n    total = add([2])\n    assert total == 2\n\n"
        "if __name__ == '__main__':\n    assert add([3]) == 3\n"
    )
    parsed = _parse(text)
    assert parsed.asserts == ("assert add([1]) == 1", "assert add([3]) == 3")
    assert any("undefined name 'total'" in d.reason for d in parsed.dropped)


def test_float_equality_becomes_a_tolerance() -> None:
    parsed = _parse("assert add([4.99]) == 0.99\nassert add([1]) == -2.5\nassert add([1]) == 1")
    assert parsed.asserts == (
        "assert abs(add([4.99]) - 0.99) <= 1e-06",
        "assert abs(add([1]) - -2.5) <= 1e-06",
        "assert add([1]) == 1",
    )
