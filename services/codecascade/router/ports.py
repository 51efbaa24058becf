"""What the cascade needs from the outside world, as protocols and plain values.

The cascade is written against these; `server.py` plugs in the real tier clients, the test
synthesis and sandbox services over gRPC, and unit tests plug in scripted doubles.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractAsyncContextManager
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
    "Reservation",
    "SolutionWriter",
    "TierGate",
    "TierTicket",
    "Unmetered",
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
    # Those of `tests` the task itself states (docstring examples, the MBPP example): the
    # learned verifier weighs them apart from the asserts a model wrote.
    examples: tuple[str, ...] = ()


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


class Reservation(Protocol):
    """A tier call's worst-case cost, held until the call ends: settle it, or release it."""

    async def settle(self, tier: str, usage: Usage) -> None:
        """Charges what the call actually cost (at most what was held); the rest is freed."""
        ...

    async def release(self) -> None:
        """Frees all of it (the call failed, or never ran)."""
        ...


class TierTicket(Protocol):
    """A tier slot held for one call; says how the tier took it (its back-pressure)."""

    def report(self, *, overloaded: bool) -> None:
        """The tier refused the call as overloaded (True) or served it (False)."""
        ...


class TierGate(Protocol):
    """What one request's tier calls pass through: its budget, and the tier's admission.

    `reserve` holds a tier call's worst case before it runs, so concurrent calls cannot
    overspend, and raises a `ResourceExhausted` when the budget cannot hold it; `degrade` says
    whether the tenant then wants the most capable tier it can still afford instead of a
    refusal. `admitted` holds one of the tier's slots while the tier generates (waiting its fair
    turn), and raises a `ResourceExhausted` when the tier is too busy to take it in time; the
    ticket it yields is told whether the tier itself refused the call as overloaded.
    """

    @property
    def degrade(self) -> bool: ...

    async def reserve(self, tier: TierPolicy, *, hold_s: float) -> Reservation: ...

    def admitted(
        self, tier: TierPolicy, *, timeout_s: float
    ) -> AbstractAsyncContextManager[TierTicket]: ...


class _NoTicket:
    def report(self, *, overloaded: bool) -> None:
        return None


class _Nothing:
    async def settle(self, tier: str, usage: Usage) -> None:
        return None

    async def release(self) -> None:
        return None


class Unmetered:
    """The gate of a cascade with no budgets or admission: every call goes."""

    @property
    def degrade(self) -> bool:
        return False

    async def reserve(self, tier: TierPolicy, *, hold_s: float) -> Reservation:
        return _Nothing()

    def admitted(
        self, tier: TierPolicy, *, timeout_s: float
    ) -> AbstractAsyncContextManager[TierTicket]:
        return contextlib.nullcontext(_NoTicket())
