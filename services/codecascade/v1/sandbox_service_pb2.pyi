import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_PASSED: _ClassVar[Outcome]
    OUTCOME_FAILED: _ClassVar[Outcome]
    OUTCOME_ERROR: _ClassVar[Outcome]
    OUTCOME_TIMEOUT: _ClassVar[Outcome]
    OUTCOME_MEMORY_EXCEEDED: _ClassVar[Outcome]
    OUTCOME_CRASHED: _ClassVar[Outcome]
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_PASSED: Outcome
OUTCOME_FAILED: Outcome
OUTCOME_ERROR: Outcome
OUTCOME_TIMEOUT: Outcome
OUTCOME_MEMORY_EXCEEDED: Outcome
OUTCOME_CRASHED: Outcome

class ExecuteRequest(_message.Message):
    __slots__ = ("solutions", "tests", "entry_point", "setup_code", "limits")
    SOLUTIONS_FIELD_NUMBER: _ClassVar[int]
    TESTS_FIELD_NUMBER: _ClassVar[int]
    ENTRY_POINT_FIELD_NUMBER: _ClassVar[int]
    SETUP_CODE_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    solutions: _containers.RepeatedScalarFieldContainer[str]
    tests: _containers.RepeatedScalarFieldContainer[str]
    entry_point: str
    setup_code: str
    limits: ExecutionLimits
    def __init__(self, solutions: _Optional[_Iterable[str]] = ..., tests: _Optional[_Iterable[str]] = ..., entry_point: _Optional[str] = ..., setup_code: _Optional[str] = ..., limits: _Optional[_Union[ExecutionLimits, _Mapping]] = ...) -> None: ...

class ExecutionLimits(_message.Message):
    __slots__ = ("test_timeout", "memory_bytes", "output_bytes")
    TEST_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    test_timeout: _duration_pb2.Duration
    memory_bytes: int
    output_bytes: int
    def __init__(self, test_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., memory_bytes: _Optional[int] = ..., output_bytes: _Optional[int] = ...) -> None: ...

class ExecuteResponse(_message.Message):
    __slots__ = ("solutions", "elapsed", "backend", "applied_limits")
    SOLUTIONS_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    APPLIED_LIMITS_FIELD_NUMBER: _ClassVar[int]
    solutions: _containers.RepeatedCompositeFieldContainer[SolutionResult]
    elapsed: _duration_pb2.Duration
    backend: str
    applied_limits: ExecutionLimits
    def __init__(self, solutions: _Optional[_Iterable[_Union[SolutionResult, _Mapping]]] = ..., elapsed: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., backend: _Optional[str] = ..., applied_limits: _Optional[_Union[ExecutionLimits, _Mapping]] = ...) -> None: ...

class SolutionResult(_message.Message):
    __slots__ = ("solution_index", "load_error", "tests", "peak_memory_bytes", "cpu_time", "isolated_rerun")
    SOLUTION_INDEX_FIELD_NUMBER: _ClassVar[int]
    LOAD_ERROR_FIELD_NUMBER: _ClassVar[int]
    TESTS_FIELD_NUMBER: _ClassVar[int]
    PEAK_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    CPU_TIME_FIELD_NUMBER: _ClassVar[int]
    ISOLATED_RERUN_FIELD_NUMBER: _ClassVar[int]
    solution_index: int
    load_error: LoadError
    tests: _containers.RepeatedCompositeFieldContainer[TestResult]
    peak_memory_bytes: int
    cpu_time: _duration_pb2.Duration
    isolated_rerun: bool
    def __init__(self, solution_index: _Optional[int] = ..., load_error: _Optional[_Union[LoadError, _Mapping]] = ..., tests: _Optional[_Iterable[_Union[TestResult, _Mapping]]] = ..., peak_memory_bytes: _Optional[int] = ..., cpu_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., isolated_rerun: _Optional[bool] = ...) -> None: ...

class LoadError(_message.Message):
    __slots__ = ("exception_type", "message")
    EXCEPTION_TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    exception_type: str
    message: str
    def __init__(self, exception_type: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class TestResult(_message.Message):
    __slots__ = ("test_index", "outcome", "exception_type", "message", "duration", "stdout", "output_truncated")
    TEST_INDEX_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    EXCEPTION_TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    test_index: int
    outcome: Outcome
    exception_type: str
    message: str
    duration: _duration_pb2.Duration
    stdout: str
    output_truncated: bool
    def __init__(self, test_index: _Optional[int] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., exception_type: _Optional[str] = ..., message: _Optional[str] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., stdout: _Optional[str] = ..., output_truncated: _Optional[bool] = ...) -> None: ...
