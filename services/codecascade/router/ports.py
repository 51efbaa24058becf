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
    "Candidates",
    "Execution",
    "MatrixRunner",
    "SolutionSource",
    "TestSet",
    "TestSource",
]


@dataclass(frozen=True, slots=True)
class Candidates:
    """A tier's k complete candidate programs."""

    codes: tuple[str, ...]
    usage: Usage
    latency_s: float


@dataclass(frozen=True, slots=True)
class TestSet:
    """A tier's own kept assert tests."""

    __test__ = False

    tests: tuple[str, ...]
    usage: Usage
    latency_s: float


@dataclass(frozen=True, slots=True)
class Execution:
    """The k x T pass matrix from the sandbox."""

    passed: tuple[tuple[bool, ...], ...]
    sandbox_s: float


class SolutionSource(Protocol):
    async def generate(
        self, tier: TierPolicy, problem: Problem, *, seed: int | None, timeout_s: float
    ) -> Candidates: ...


class TestSource(Protocol):
    async def generate(
        self, tier: TierPolicy, problem: Problem, *, seed: int | None, timeout_s: float
    ) -> TestSet: ...


class MatrixRunner(Protocol):
    async def run(
        self,
        problem: Problem,
        solutions: tuple[str, ...],
        tests: tuple[str, ...],
        *,
        timeout_s: float,
    ) -> Execution: ...
