"""What the cascade needs from the outside world, as protocols and plain values.

The cascade is written against these; `server.py` plugs in the real tier clients, the test
synthesis and sandbox services over gRPC, and unit tests plug in scripted doubles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from codecascade.core.task import Problem
from codecascade.core.usage import Usage
from codecascade.router.policy import TierPolicy

__all__ = [
    "AssertSet",
    "AssertWriter",
    "Candidates",
    "Execution",
    "MatrixRunner",
    "SolutionWriter",
]


@dataclass(frozen=True, slots=True)
class Candidates:
    """A tier's k complete candidate programs."""

    codes: tuple[str, ...]
    usage: Usage
    latency_s: float


@dataclass(frozen=True, slots=True)
class AssertSet:
    """A tier's own kept assert tests."""

    tests: tuple[str, ...]
    usage: Usage
    latency_s: float


@dataclass(frozen=True, slots=True)
class Execution:
    """The k x T pass matrix from the sandbox."""

    passed: tuple[tuple[bool, ...], ...]
    sandbox_s: float


class SolutionWriter(Protocol):
    """Writes a tier's k candidate programs for a task (one greedy answer when k <= 1)."""

    async def write_solutions(
        self, tier: TierPolicy, problem: Problem, *, seed: int | None, timeout_s: float
    ) -> Candidates: ...


class AssertWriter(Protocol):
    """Has a tier write its own assert tests for a task, and keeps those worth running."""

    async def write_tests(
        self, tier: TierPolicy, problem: Problem, *, seed: int | None, timeout_s: float
    ) -> AssertSet: ...


class MatrixRunner(Protocol):
    """Runs every solution against every test once: the k x T pass matrix."""

    async def run_matrix(
        self,
        problem: Problem,
        solutions: tuple[str, ...],
        tests: tuple[str, ...],
        *,
        timeout_s: float,
    ) -> Execution: ...
