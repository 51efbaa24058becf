"""Built-in examples, so every command can be tried without writing input files first."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SANDBOX_EXAMPLE", "TASK_EXAMPLES", "SandboxExample", "TaskExample"]


@dataclass(frozen=True)
class SandboxExample:
    entry_point: str
    solutions: tuple[str, ...]
    labels: tuple[str, ...]
    tests: tuple[str, ...]


SANDBOX_EXAMPLE = SandboxExample(
    entry_point="has_close_elements",
    labels=("correct", "off-by-one", "exits early", "spins forever"),
    solutions=(
        "def has_close_elements(numbers, threshold):\n"
        "    return any(abs(a - b) < threshold\n"
        "               for i, a in enumerate(numbers) for b in numbers[i + 1:])\n",
        "def has_close_elements(numbers, threshold):\n"
        "    return any(abs(numbers[i] - numbers[i + 1]) < threshold\n"
        "               for i in range(len(numbers) - 1))\n",
        "import os\nos._exit(0)\n",
        "def has_close_elements(numbers, threshold):\n    while True:\n        pass\n",
    ),
    tests=(
        "assert has_close_elements([1.0, 2.0, 3.0], 0.5) is False",
        "assert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) is True",
        "assert has_close_elements([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) is True",
        "assert has_close_elements([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) is True",
    ),
)


@dataclass(frozen=True)
class TaskExample:
    prompt: str
    entry_point: str


TASK_EXAMPLES: dict[str, TaskExample] = {
    "running_max": TaskExample(
        entry_point="running_max",
        prompt='''from typing import List


def running_max(numbers: List[int]) -> List[int]:
    """Return the running maximum: element i is the largest of numbers[0..i].
    >>> running_max([1, 3, 2, 5, 4])
    [1, 3, 3, 5, 5]
    >>> running_max([])
    []
    """
''',
    ),
    "is_palindrome": TaskExample(
        entry_point="is_palindrome",
        prompt='''def is_palindrome(text: str) -> bool:
    """Whether text reads the same backwards, ignoring case and non-letters.
    >>> is_palindrome("A man, a plan, a canal: Panama")
    True
    >>> is_palindrome("codecascade")
    False
    """
''',
    ),
}
