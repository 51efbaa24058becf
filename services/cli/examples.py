"""Built-in examples, so every command can be tried without writing input files first."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SANDBOX_EXAMPLE", "SandboxExample"]


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
