"""Small conversions between domain values and shared protobuf types, used by every servicer.

What two services share on the wire (durations, the task's style in `task.proto`) is converted
here once, so a servicer never borrows another service's servicer to read a request.
"""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration

from codecascade.core.task import Problem, ProblemStyle, make_problem
from codecascade.v1 import task_pb2

__all__ = ["duration", "problem_from_wire", "seconds", "style_to_wire"]

_STYLES: dict[int, ProblemStyle] = {
    task_pb2.PROBLEM_STYLE_HUMANEVAL: "humaneval",
    task_pb2.PROBLEM_STYLE_MBPP: "mbpp",
}
_WIRE_STYLES: dict[ProblemStyle, task_pb2.ProblemStyle] = {
    "humaneval": task_pb2.PROBLEM_STYLE_HUMANEVAL,
    "mbpp": task_pb2.PROBLEM_STYLE_MBPP,
}


def duration(value_s: float) -> Duration:
    """A Duration from seconds, to the nanosecond."""
    message = Duration()
    message.FromNanoseconds(round(value_s * 1e9))
    return message


def seconds(message: Duration) -> float:
    """Seconds from a Duration."""
    return message.ToNanoseconds() / 1e9


def problem_from_wire(prompt: str, entry_point: str, example_test: str, style: int) -> Problem:
    """The task a request describes; an unspecified style is detected from the prompt.

    The router's `Task` and test synthesis's request carry the same fields, so both read them here.
    Raises NoFunctionToTest (invalid input) when nothing in the task can be tested.
    """
    return make_problem(
        prompt, entry_point=entry_point, example_test=example_test, style=_STYLES.get(style, "")
    )


def style_to_wire(style: ProblemStyle) -> task_pb2.ProblemStyle:
    """The wire value of a task's style."""
    return _WIRE_STYLES[style]
