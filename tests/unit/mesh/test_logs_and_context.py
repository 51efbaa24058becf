from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

from codecascade.core.errors import InvalidInput
from codecascade.mesh.context import (
    CallIdentity,
    identity_from_metadata,
    set_identity,
)
from codecascade.mesh.logs import JsonFormatter


def test_json_log_lines_carry_trace_and_identity() -> None:
    tracer = TracerProvider().get_tracer("t")
    token = set_identity(CallIdentity("acme", "req-9"))
    try:
        with tracer.start_as_current_span("work") as span:
            record = logging.makeLogRecord(
                {"name": "x", "levelname": "INFO", "msg": "hi %s", "args": ("there",), "k": 1}
            )
            line = json.loads(JsonFormatter().format(record))
    finally:
        set_identity(None)
        del token
    assert line["message"] == "hi there" and line["severity"] == "INFO" and line["k"] == 1
    assert line["tenant"] == "acme" and line["request_id"] == "req-9"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_identity_defaults_and_validation() -> None:
    identity = identity_from_metadata([])
    assert identity.tenant == "default" and len(identity.request_id) == 32
    with pytest.raises(InvalidInput):
        identity_from_metadata([("x-tenant-id", "a b")])
    with pytest.raises(InvalidInput):
        identity_from_metadata([("x-request-id", "x" * 200)])
