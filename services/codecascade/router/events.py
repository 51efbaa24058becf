"""What the cascade reports while it runs, and what it returns.

The cascade decides; it does not count. Each step is an event handed to observers: the
GenerateStream servicer turns some into messages, and `router.metrics.RouterMetrics` records them
all as Prometheus series. Decision code therefore holds no metric calls, and whatever a dashboard
shows is what the events said.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from codecascade.core.decision import Agreement
from codecascade.core.usage import Usage

__all__ = [
    "Answered",
    "CandidatesReady",
    "CascadeEvent",
    "CascadeResult",
    "Decision",
    "EscalatedEvent",
    "MatrixScored",
    "Observer",
    "TierAborted",
    "TierAttempt",
    "TierFinished",
    "TierStartedEvent",
    "TierWaking",
]


class Decision(enum.Enum):
    """Values match the proto enum numbers."""

    ACCEPTED = 1
    ESCALATED = 2
    SKIPPED = 3
    FINAL = 4
    UNTESTED = 5


@dataclass(frozen=True, slots=True)
class TierStartedEvent:
    tier: str
    k: int
    test_lines: int
    test_generations: int


@dataclass(frozen=True, slots=True)
class CandidatesReady:
    tier: str
    solutions: int
    tests: int
    usage: Usage


@dataclass(frozen=True, slots=True)
class MatrixScored:
    tier: str
    agreement: Agreement
    threshold: float


@dataclass(frozen=True, slots=True)
class EscalatedEvent:
    from_tier: str
    to_tier: str
    reason: str
    score: float
    threshold: float
    reason_code: str = ""  # low-cardinality label for metrics


@dataclass(frozen=True, slots=True)
class TierFinished:
    """A tier's attempt is over (whatever its decision): its usage and time are final."""

    attempt: TierAttempt


@dataclass(frozen=True, slots=True)
class TierWaking:
    """The tier had no ready replica and its policy waits for it (`when_cold: wait`): the
    request retries it with backoff for at most `budget_s` (what is left of its deadline)."""

    tier: str
    reason: str
    budget_s: float


@dataclass(frozen=True, slots=True)
class TierAborted:
    """A tier's attempt ended by an exception (cancelled, out of budget) before it finished:
    what it started is over, so the in-flight count it raised comes down (router.metrics)."""

    tier: str


@dataclass(frozen=True, slots=True)
class Answered:
    """The request has its answer (a request no tier could answer raises instead)."""

    result: CascadeResult


CascadeEvent = (
    TierStartedEvent
    | CandidatesReady
    | MatrixScored
    | EscalatedEvent
    | TierFinished
    | TierAborted
    | TierWaking
    | Answered
)


# Receives each event as it happens; GenerateStream turns them into messages.
Observer = Callable[[CascadeEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TierAttempt:
    """One step on the escalation path, with everything needed to audit the decision."""

    tier: str
    decision: Decision
    reason: str
    reason_code: str  # low-cardinality label for metrics
    k: int
    test_lines: int
    test_generations: int
    threshold: float
    score: float = 0.0
    agreement: Agreement | None = None
    solution_usage: Usage = field(default_factory=Usage)
    test_usage: Usage = field(default_factory=Usage)
    model_s: float = 0.0
    sandbox_s: float = 0.0
    elapsed_s: float = 0.0
    tests: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()  # those of `tests` the task itself states
    solutions: tuple[str, ...] = ()
    # When the tier (or the router's queue for it) was too busy: when to try again, in seconds.
    retry_after_s: float = 0.0

    @property
    def usage(self) -> Usage:
        return self.solution_usage + self.test_usage

    @property
    def best_code(self) -> str | None:
        """The answer this tier would give: its best solution, else its first."""
        if not self.solutions:
            return None
        if self.agreement is not None and self.agreement.best_solution >= 0:
            return self.solutions[self.agreement.best_solution]
        return self.solutions[0]


@dataclass(frozen=True, slots=True)
class CascadeResult:
    code: str
    tier: str
    decision: Decision
    score: float
    threshold: float
    agreement: Agreement | None
    attempts: tuple[TierAttempt, ...]
    elapsed_s: float
    trace_id: str
    # Set when the budget could not pay for the policy and a cheaper tier answered instead.
    degraded_reason: str = ""
    # Set when the next tier was cold (no ready replica) and its policy answered at once with the
    # best earlier answer (`when_cold: answer_best`): that tier's name.
    cold_tier: str = ""

    @property
    def degraded(self) -> bool:
        return bool(self.degraded_reason)

    @property
    def usage(self) -> Usage:
        total = Usage()
        for attempt in self.attempts:
            total = total + attempt.usage
        return total
