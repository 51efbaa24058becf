import datetime

from codecascade.v1 import task_pb2 as _task_pb2
from codecascade.v1 import usage_pb2 as _usage_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_ACCEPTED: _ClassVar[Decision]
    DECISION_ESCALATED: _ClassVar[Decision]
    DECISION_SKIPPED: _ClassVar[Decision]
    DECISION_FINAL: _ClassVar[Decision]
    DECISION_UNTESTED: _ClassVar[Decision]

class BudgetScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BUDGET_SCOPE_UNSPECIFIED: _ClassVar[BudgetScope]
    BUDGET_SCOPE_TENANT_PERIOD: _ClassVar[BudgetScope]
    BUDGET_SCOPE_TENANT_LIFETIME: _ClassVar[BudgetScope]
    BUDGET_SCOPE_ORGANISATION_PERIOD: _ClassVar[BudgetScope]
    BUDGET_SCOPE_ORGANISATION_LIFETIME: _ClassVar[BudgetScope]
DECISION_UNSPECIFIED: Decision
DECISION_ACCEPTED: Decision
DECISION_ESCALATED: Decision
DECISION_SKIPPED: Decision
DECISION_FINAL: Decision
DECISION_UNTESTED: Decision
BUDGET_SCOPE_UNSPECIFIED: BudgetScope
BUDGET_SCOPE_TENANT_PERIOD: BudgetScope
BUDGET_SCOPE_TENANT_LIFETIME: BudgetScope
BUDGET_SCOPE_ORGANISATION_PERIOD: BudgetScope
BUDGET_SCOPE_ORGANISATION_LIFETIME: BudgetScope

class Task(_message.Message):
    __slots__ = ("prompt", "entry_point", "style", "example_test")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    ENTRY_POINT_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_TEST_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    entry_point: str
    style: _task_pb2.ProblemStyle
    example_test: str
    def __init__(self, prompt: _Optional[str] = ..., entry_point: _Optional[str] = ..., style: _Optional[_Union[_task_pb2.ProblemStyle, str]] = ..., example_test: _Optional[str] = ...) -> None: ...

class Overrides(_message.Message):
    __slots__ = ("max_tier", "threshold", "k", "cost_cap_usd", "deadline")
    MAX_TIER_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    COST_CAP_USD_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    max_tier: str
    threshold: float
    k: int
    cost_cap_usd: float
    deadline: _duration_pb2.Duration
    def __init__(self, max_tier: _Optional[str] = ..., threshold: _Optional[float] = ..., k: _Optional[int] = ..., cost_cap_usd: _Optional[float] = ..., deadline: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("task", "overrides", "seed")
    TASK_FIELD_NUMBER: _ClassVar[int]
    OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    task: Task
    overrides: Overrides
    seed: int
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ..., overrides: _Optional[_Union[Overrides, _Mapping]] = ..., seed: _Optional[int] = ...) -> None: ...

class GenerateStreamRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: GenerateRequest
    def __init__(self, request: _Optional[_Union[GenerateRequest, _Mapping]] = ...) -> None: ...

class MatrixSummary(_message.Message):
    __slots__ = ("solutions", "tests", "passed_cells", "passes_per_solution", "best_solution", "best_solution_passes", "best_test_agreement")
    SOLUTIONS_FIELD_NUMBER: _ClassVar[int]
    TESTS_FIELD_NUMBER: _ClassVar[int]
    PASSED_CELLS_FIELD_NUMBER: _ClassVar[int]
    PASSES_PER_SOLUTION_FIELD_NUMBER: _ClassVar[int]
    BEST_SOLUTION_FIELD_NUMBER: _ClassVar[int]
    BEST_SOLUTION_PASSES_FIELD_NUMBER: _ClassVar[int]
    BEST_TEST_AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    solutions: int
    tests: int
    passed_cells: int
    passes_per_solution: _containers.RepeatedScalarFieldContainer[int]
    best_solution: int
    best_solution_passes: int
    best_test_agreement: int
    def __init__(self, solutions: _Optional[int] = ..., tests: _Optional[int] = ..., passed_cells: _Optional[int] = ..., passes_per_solution: _Optional[_Iterable[int]] = ..., best_solution: _Optional[int] = ..., best_solution_passes: _Optional[int] = ..., best_test_agreement: _Optional[int] = ...) -> None: ...

class TierAttempt(_message.Message):
    __slots__ = ("tier", "decision", "reason", "k", "test_lines", "score", "threshold", "matrix", "solution_usage", "test_usage", "model_time", "sandbox_time", "elapsed", "tests", "test_generations")
    TIER_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    TEST_LINES_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MATRIX_FIELD_NUMBER: _ClassVar[int]
    SOLUTION_USAGE_FIELD_NUMBER: _ClassVar[int]
    TEST_USAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_TIME_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_TIME_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_FIELD_NUMBER: _ClassVar[int]
    TESTS_FIELD_NUMBER: _ClassVar[int]
    TEST_GENERATIONS_FIELD_NUMBER: _ClassVar[int]
    tier: str
    decision: Decision
    reason: str
    k: int
    test_lines: int
    score: float
    threshold: float
    matrix: MatrixSummary
    solution_usage: _usage_pb2.TokenUsage
    test_usage: _usage_pb2.TokenUsage
    model_time: _duration_pb2.Duration
    sandbox_time: _duration_pb2.Duration
    elapsed: _duration_pb2.Duration
    tests: _containers.RepeatedScalarFieldContainer[str]
    test_generations: int
    def __init__(self, tier: _Optional[str] = ..., decision: _Optional[_Union[Decision, str]] = ..., reason: _Optional[str] = ..., k: _Optional[int] = ..., test_lines: _Optional[int] = ..., score: _Optional[float] = ..., threshold: _Optional[float] = ..., matrix: _Optional[_Union[MatrixSummary, _Mapping]] = ..., solution_usage: _Optional[_Union[_usage_pb2.TokenUsage, _Mapping]] = ..., test_usage: _Optional[_Union[_usage_pb2.TokenUsage, _Mapping]] = ..., model_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., sandbox_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., elapsed: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., tests: _Optional[_Iterable[str]] = ..., test_generations: _Optional[int] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("code", "tier", "score", "threshold", "decision", "matrix", "attempts", "usage", "elapsed", "trace_id", "degraded", "degraded_reason", "cold_tier")
    CODE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    MATRIX_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_REASON_FIELD_NUMBER: _ClassVar[int]
    COLD_TIER_FIELD_NUMBER: _ClassVar[int]
    code: str
    tier: str
    score: float
    threshold: float
    decision: Decision
    matrix: MatrixSummary
    attempts: _containers.RepeatedCompositeFieldContainer[TierAttempt]
    usage: _usage_pb2.TokenUsage
    elapsed: _duration_pb2.Duration
    trace_id: str
    degraded: bool
    degraded_reason: str
    cold_tier: str
    def __init__(self, code: _Optional[str] = ..., tier: _Optional[str] = ..., score: _Optional[float] = ..., threshold: _Optional[float] = ..., decision: _Optional[_Union[Decision, str]] = ..., matrix: _Optional[_Union[MatrixSummary, _Mapping]] = ..., attempts: _Optional[_Iterable[_Union[TierAttempt, _Mapping]]] = ..., usage: _Optional[_Union[_usage_pb2.TokenUsage, _Mapping]] = ..., elapsed: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., trace_id: _Optional[str] = ..., degraded: _Optional[bool] = ..., degraded_reason: _Optional[str] = ..., cold_tier: _Optional[str] = ...) -> None: ...

class TierStarted(_message.Message):
    __slots__ = ("tier", "k", "test_lines", "test_generations")
    TIER_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    TEST_LINES_FIELD_NUMBER: _ClassVar[int]
    TEST_GENERATIONS_FIELD_NUMBER: _ClassVar[int]
    tier: str
    k: int
    test_lines: int
    test_generations: int
    def __init__(self, tier: _Optional[str] = ..., k: _Optional[int] = ..., test_lines: _Optional[int] = ..., test_generations: _Optional[int] = ...) -> None: ...

class CandidatesGenerated(_message.Message):
    __slots__ = ("tier", "solutions", "tests", "usage")
    TIER_FIELD_NUMBER: _ClassVar[int]
    SOLUTIONS_FIELD_NUMBER: _ClassVar[int]
    TESTS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    tier: str
    solutions: int
    tests: int
    usage: _usage_pb2.TokenUsage
    def __init__(self, tier: _Optional[str] = ..., solutions: _Optional[int] = ..., tests: _Optional[int] = ..., usage: _Optional[_Union[_usage_pb2.TokenUsage, _Mapping]] = ...) -> None: ...

class TestsExecuted(_message.Message):
    __slots__ = ("tier", "matrix", "score", "threshold")
    TIER_FIELD_NUMBER: _ClassVar[int]
    MATRIX_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    tier: str
    matrix: MatrixSummary
    score: float
    threshold: float
    def __init__(self, tier: _Optional[str] = ..., matrix: _Optional[_Union[MatrixSummary, _Mapping]] = ..., score: _Optional[float] = ..., threshold: _Optional[float] = ...) -> None: ...

class Escalated(_message.Message):
    __slots__ = ("from_tier", "to_tier", "reason", "score", "threshold")
    FROM_TIER_FIELD_NUMBER: _ClassVar[int]
    TO_TIER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    from_tier: str
    to_tier: str
    reason: str
    score: float
    threshold: float
    def __init__(self, from_tier: _Optional[str] = ..., to_tier: _Optional[str] = ..., reason: _Optional[str] = ..., score: _Optional[float] = ..., threshold: _Optional[float] = ...) -> None: ...

class TierWaking(_message.Message):
    __slots__ = ("tier", "reason", "budget")
    TIER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    tier: str
    reason: str
    budget: _duration_pb2.Duration
    def __init__(self, tier: _Optional[str] = ..., reason: _Optional[str] = ..., budget: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GenerateStreamResponse(_message.Message):
    __slots__ = ("tier_started", "candidates_generated", "tests_executed", "escalated", "completed", "tier_waking")
    TIER_STARTED_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_GENERATED_FIELD_NUMBER: _ClassVar[int]
    TESTS_EXECUTED_FIELD_NUMBER: _ClassVar[int]
    ESCALATED_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    TIER_WAKING_FIELD_NUMBER: _ClassVar[int]
    tier_started: TierStarted
    candidates_generated: CandidatesGenerated
    tests_executed: TestsExecuted
    escalated: Escalated
    completed: GenerateResponse
    tier_waking: TierWaking
    def __init__(self, tier_started: _Optional[_Union[TierStarted, _Mapping]] = ..., candidates_generated: _Optional[_Union[CandidatesGenerated, _Mapping]] = ..., tests_executed: _Optional[_Union[TestsExecuted, _Mapping]] = ..., escalated: _Optional[_Union[Escalated, _Mapping]] = ..., completed: _Optional[_Union[GenerateResponse, _Mapping]] = ..., tier_waking: _Optional[_Union[TierWaking, _Mapping]] = ...) -> None: ...

class GetUsageRequest(_message.Message):
    __slots__ = ("tenant_id", "period")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    period: str
    def __init__(self, tenant_id: _Optional[str] = ..., period: _Optional[str] = ...) -> None: ...

class TierSpend(_message.Message):
    __slots__ = ("tier", "completion_tokens", "cost_usd")
    TIER_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    tier: str
    completion_tokens: int
    cost_usd: float
    def __init__(self, tier: _Optional[str] = ..., completion_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ...) -> None: ...

class BudgetUsage(_message.Message):
    __slots__ = ("scope", "period", "limited", "limit_usd", "spent_usd", "reserved_usd", "remaining_usd", "tiers")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    LIMITED_FIELD_NUMBER: _ClassVar[int]
    LIMIT_USD_FIELD_NUMBER: _ClassVar[int]
    SPENT_USD_FIELD_NUMBER: _ClassVar[int]
    RESERVED_USD_FIELD_NUMBER: _ClassVar[int]
    REMAINING_USD_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    scope: BudgetScope
    period: str
    limited: bool
    limit_usd: float
    spent_usd: float
    reserved_usd: float
    remaining_usd: float
    tiers: _containers.RepeatedCompositeFieldContainer[TierSpend]
    def __init__(self, scope: _Optional[_Union[BudgetScope, str]] = ..., period: _Optional[str] = ..., limited: _Optional[bool] = ..., limit_usd: _Optional[float] = ..., spent_usd: _Optional[float] = ..., reserved_usd: _Optional[float] = ..., remaining_usd: _Optional[float] = ..., tiers: _Optional[_Iterable[_Union[TierSpend, _Mapping]]] = ...) -> None: ...

class GetUsageResponse(_message.Message):
    __slots__ = ("tenant_id", "organisation_id", "budgets")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    organisation_id: str
    budgets: _containers.RepeatedCompositeFieldContainer[BudgetUsage]
    def __init__(self, tenant_id: _Optional[str] = ..., organisation_id: _Optional[str] = ..., budgets: _Optional[_Iterable[_Union[BudgetUsage, _Mapping]]] = ...) -> None: ...
