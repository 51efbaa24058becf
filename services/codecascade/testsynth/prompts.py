"""Prompts that ask a tier for assert tests (DESIGN §1), for instruction and base models.

Instruction models get one chat message. Base models get the stub, the paper's "Assume the above
function is completed" comment and a trailing `assert`, so the completion starts inside the first
test; the caller prepends that `assert` back (`AssertPrompt.completion_prefix`).

Beyond the paper's wording, the instruction prompt asks for simple inputs and expected values
worked out from the specification: small models copy complex cases badly, and a wrong expected
value is a test that rejects correct code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from codecascade.core.task import Problem

__all__ = ["AssertPrompt", "build_test_prompt"]


@dataclass(frozen=True, slots=True)
class AssertPrompt:
    """The text to send, how to send it, and what to glue in front of each completion."""

    text: str
    format: Literal["chat", "raw"]
    completion_prefix: str = ""
    stop: tuple[str, ...] = ()


def _instruct(problem: Problem, lines: int) -> AssertPrompt:
    entry = problem.entry_point
    if problem.style == "humaneval":
        task = f"```python\n{problem.prompt.rstrip()}\n```"
    else:
        example = (
            f"\nExample:\n```python\n{problem.example_test}\n```" if problem.example_test else ""
        )
        task = f"Task: {problem.prompt.strip()}{example}"
    text = (
        f"{task}\n\n"
        f"Write {lines} lines of code to test the correctness of `{entry}`. Each line must be one "
        f"`assert` statement that calls `{entry}` with simple, concrete arguments and compares the "
        "result with the exact expected value, worked out carefully from the specification. "
        "Do not import anything, define functions or print. Answer with a single ```python block."
    )
    return AssertPrompt(text, "chat", stop=("\n```\n",))  # prose after the block is not paid for


def _base(problem: Problem, lines: int) -> AssertPrompt:
    if problem.style == "humaneval":
        stub = problem.prompt.rstrip() + "\n    pass\n"
    else:
        example = f"\n# Example: {problem.example_test}" if problem.example_test else ""
        stub = f"# {problem.prompt.strip()}{example}\n"
    text = (
        f"{stub}\n\n# Assume the above function is completed. Write {lines} lines of testing code "
        f"for the function `{problem.entry_point}`.\n\nassert"
    )
    return AssertPrompt(
        text,
        "raw",
        completion_prefix="assert",
        stop=("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\n\n\n"),
    )


def build_test_prompt(problem: Problem, *, lines: int, instruct: bool) -> AssertPrompt:
    """The prompt asking for `lines` assert lines about `problem.entry_point`."""
    return _instruct(problem, lines) if instruct else _base(problem, lines)
