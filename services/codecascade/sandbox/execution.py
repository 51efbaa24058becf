"""The sandbox's domain: what a request asks to run and what comes back.

These types are the contract between the gRPC servicer and the backends (runsc, pod, process).
They carry no gRPC or protobuf so that backends and the runner protocol can be tested without a
server, and so that the router can reuse the same vocabulary for pass matrices.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class Outcome(enum.Enum):
    """What happened to one (solution, test) pair; values match the proto enum numbers."""

    PASSED = 1
    FAILED = 2
    ERROR = 3
    TIMEOUT = 4
    MEMORY_EXCEEDED = 5
    CRASHED = 6


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource bounds applied to one request, after capping by the server's maxima."""

    test_timeout_s: float
    memory_bytes: int
    output_bytes: int


@dataclass(frozen=True, slots=True)
class ExecutionJob:
    """One k x T matrix to run: every solution against every test."""

    solutions: tuple[str, ...]
    tests: tuple[str, ...]
    entry_point: str
    setup_code: str
    limits: Limits
    tenant: str = ""
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class LoadError:
    """Why a solution could not be compiled or loaded; its tests are then not run."""

    exception_type: str
    message: str


@dataclass(frozen=True, slots=True)
class CellResult:
    """One cell of the matrix: one test run against one solution."""

    test_index: int
    outcome: Outcome
    exception_type: str = ""
    message: str = ""
    duration_s: float = 0.0
    stdout: str = ""
    output_truncated: bool = False


@dataclass(frozen=True, slots=True)
class SolutionResult:
    """One row of the matrix."""

    solution_index: int
    tests: tuple[CellResult, ...]
    load_error: LoadError | None = None
    peak_memory_bytes: int = 0
    cpu_time_s: float = 0.0
    isolated_rerun: bool = False


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """The whole matrix for one job, rows in solution order."""

    solutions: tuple[SolutionResult, ...]
    backend: str
    elapsed_s: float
    limits: Limits
    notes: tuple[str, ...] = field(default=())

    def passed_matrix(self) -> list[list[bool]]:
        """The boolean k x T matrix the cascade scores."""
        return [[t.outcome is Outcome.PASSED for t in row.tests] for row in self.solutions]


class Backend(Protocol):
    """Runs jobs in some isolation boundary. Implementations: runsc, pod, process."""

    name: str

    async def start(self) -> None:
        """Prepares resources (pools, bundles); raises SandboxUnavailable if it cannot run here."""

    async def execute(self, job: ExecutionJob, *, deadline_s: float) -> ExecutionReport:
        """Runs the job within deadline_s seconds of wall-clock time."""

    async def close(self) -> None:
        """Releases every resource; leaves no sandbox or process behind."""


class JobObserver(Protocol):
    """Told about every job a backend finished (the service's metrics implement it)."""

    def job_finished(self, report: ExecutionReport) -> None:
        """Called on the event loop while the request's span is current; must not block."""
