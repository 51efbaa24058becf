"""Small conversions between domain values and well-known protobuf types, shared by servicers."""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration

__all__ = ["duration", "seconds"]


def duration(value_s: float) -> Duration:
    """A Duration from seconds, to the nanosecond."""
    message = Duration()
    message.FromNanoseconds(round(value_s * 1e9))
    return message


def seconds(message: Duration) -> float:
    """Seconds from a Duration."""
    return message.ToNanoseconds() / 1e9
