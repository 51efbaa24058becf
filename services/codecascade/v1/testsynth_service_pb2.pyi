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

class TestOrigin(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEST_ORIGIN_UNSPECIFIED: _ClassVar[TestOrigin]
    TEST_ORIGIN_MODEL: _ClassVar[TestOrigin]
    TEST_ORIGIN_PROMPT_EXAMPLE: _ClassVar[TestOrigin]
TEST_ORIGIN_UNSPECIFIED: TestOrigin
TEST_ORIGIN_MODEL: TestOrigin
TEST_ORIGIN_PROMPT_EXAMPLE: TestOrigin

class SynthesizeTestsRequest(_message.Message):
    __slots__ = ("prompt", "entry_point", "style", "example_test", "tier", "generations", "lines_per_generation", "max_tests", "seed", "exclude_prompt_examples")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    ENTRY_POINT_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_TEST_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    GENERATIONS_FIELD_NUMBER: _ClassVar[int]
    LINES_PER_GENERATION_FIELD_NUMBER: _ClassVar[int]
    MAX_TESTS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_PROMPT_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    entry_point: str
    style: _task_pb2.ProblemStyle
    example_test: str
    tier: str
    generations: int
    lines_per_generation: int
    max_tests: int
    seed: int
    exclude_prompt_examples: bool
    def __init__(self, prompt: _Optional[str] = ..., entry_point: _Optional[str] = ..., style: _Optional[_Union[_task_pb2.ProblemStyle, str]] = ..., example_test: _Optional[str] = ..., tier: _Optional[str] = ..., generations: _Optional[int] = ..., lines_per_generation: _Optional[int] = ..., max_tests: _Optional[int] = ..., seed: _Optional[int] = ..., exclude_prompt_examples: _Optional[bool] = ...) -> None: ...

class SynthesizedTest(_message.Message):
    __slots__ = ("code", "tier", "generation_index", "origin")
    CODE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    GENERATION_INDEX_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    code: str
    tier: str
    generation_index: int
    origin: TestOrigin
    def __init__(self, code: _Optional[str] = ..., tier: _Optional[str] = ..., generation_index: _Optional[int] = ..., origin: _Optional[_Union[TestOrigin, str]] = ...) -> None: ...

class DroppedTest(_message.Message):
    __slots__ = ("text", "reason", "generation_index")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    GENERATION_INDEX_FIELD_NUMBER: _ClassVar[int]
    text: str
    reason: str
    generation_index: int
    def __init__(self, text: _Optional[str] = ..., reason: _Optional[str] = ..., generation_index: _Optional[int] = ...) -> None: ...

class SynthesizeTestsResponse(_message.Message):
    __slots__ = ("tests", "dropped", "usage", "model_latency")
    TESTS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_LATENCY_FIELD_NUMBER: _ClassVar[int]
    tests: _containers.RepeatedCompositeFieldContainer[SynthesizedTest]
    dropped: _containers.RepeatedCompositeFieldContainer[DroppedTest]
    usage: _usage_pb2.TokenUsage
    model_latency: _duration_pb2.Duration
    def __init__(self, tests: _Optional[_Iterable[_Union[SynthesizedTest, _Mapping]]] = ..., dropped: _Optional[_Iterable[_Union[DroppedTest, _Mapping]]] = ..., usage: _Optional[_Union[_usage_pb2.TokenUsage, _Mapping]] = ..., model_latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...
