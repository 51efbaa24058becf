from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class ProblemStyle(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROBLEM_STYLE_UNSPECIFIED: _ClassVar[ProblemStyle]
    PROBLEM_STYLE_HUMANEVAL: _ClassVar[ProblemStyle]
    PROBLEM_STYLE_MBPP: _ClassVar[ProblemStyle]
PROBLEM_STYLE_UNSPECIFIED: ProblemStyle
PROBLEM_STYLE_HUMANEVAL: ProblemStyle
PROBLEM_STYLE_MBPP: ProblemStyle
