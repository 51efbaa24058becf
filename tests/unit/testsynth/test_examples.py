"""The task's own examples, in the forms HumanEval's prompts write them."""

from __future__ import annotations

import pytest

from codecascade.core.task import make_problem
from codecascade.testsynth.examples import prompt_examples


def _examples(signature: str, doc: str) -> tuple[str, ...]:
    prompt = f'def {signature}:\n    """{doc}\n    """\n'
    return prompt_examples(make_problem(prompt)).asserts


@pytest.mark.parametrize(
    ("signature", "doc", "expected"),
    [
        ("f(x)", "Double.\n    >>> f(2)\n    4", ("assert f(2) == 4",)),
        (
            "f(x)",
            "Double.\n    >>> f(2) == 4\n    >>> f(0) == 0",
            ("assert f(2) == 4", "assert f(0) == 0"),
        ),
        ("f(x)", "Double.\n    >>> f(2) == 4\n    True", ("assert f(2) == 4",)),
        ("f(x)", "Positive?\n    >>> f(2)\n    True", ("assert f(2) == True",)),
        ("f(x)", "Yes or No.\n    f(15)   # returns 'Yes'", ("assert f(15) == 'Yes'",)),
        ("f(x)", "Yes or No.\n    f(1) # => 'No' (must be even)", ("assert f(1) == 'No'",)),
        (
            "f(s, n)",
            "Mangoes.\n    f('5 apples', 19) -> 19 - 5 = 14",
            ("assert f('5 apples', 19) == 14",),
        ),
        (
            "f(lst)",
            "Sum.\n    For lst = [1,2,3] the output should be 6",
            ("assert f([1, 2, 3]) == 6",),
        ),
        (
            "f(s, c)",
            'Delete.\n    For s = "abcde", c = "ae", the result should be (\'bcd\',False)',
            ("assert f('abcde', 'ae') == ('bcd', False)",),
        ),
        (
            "f(N)",
            'Sum.\n    For N = 150, the sum of digits will be 6 the output should be "110".',
            ("assert f(150) == '110'",),
        ),
        (
            "f(arr, k)",
            "Top k.\n    Input: arr = [-3, -4, 5], k = 3\n    Output: [-4, -3, 5]",
            ("assert f([-3, -4, 5], 3) == [-4, -3, 5]",),
        ),
        (
            "f(arr, k)",  # order in the text is not the parameters' order
            "Top k.\n    Input: k = 1, arr = [2]\n    Output: 24 # sum of 21 + 3",
            ("assert f([2], 1) == 24",),
        ),
        (
            "f(arr)",
            "Pluck.\n    Input: [4,2,3]\n    Output: [2, 1]",
            ("assert f([4, 2, 3]) == [2, 1]",),
        ),
    ],
)
def test_forms_become_asserts(signature: str, doc: str, expected: tuple[str, ...]) -> None:
    assert _examples(signature, doc) == expected


@pytest.mark.parametrize(
    ("signature", "doc"),
    [
        ("f(lst)", "Sum.\n    For xs = [1, 2] the output should be 3"),  # not the parameter
        ("f(a, b)", "Sum.\n    For a = 1 the output should be 3"),  # a parameter missing
        ("f(a, b)", "Sum.\n    Input: 1, 2\n    Output: 3"),  # bare values, two parameters
        ("f(x)", "Describe.\n    For x = 1 the output should be one of many"),  # not a value
        ("f(x)", "Explain.\n    Input: x = 1"),  # no output
    ],
)
def test_unclear_examples_are_not_guessed(signature: str, doc: str) -> None:
    assert _examples(signature, doc) == ()
