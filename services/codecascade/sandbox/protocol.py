"""The host side of the runner protocol: encode a job, read the runner's stream, validate rows.

Whatever comes out of a sandbox is untrusted: every line is size-bounded, must carry the job's
nonce, and is checked field by field before it becomes a `SolutionResult`. A stream that breaks
off (sandbox crashed, deadline) still yields the rows that arrived complete, so the caller can
rerun only the missing solutions. Backends share this module; only how the runner process is
started differs between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codecascade.sandbox.execution import (
    CellResult,
    ExecutionJob,
    LoadError,
    Outcome,
    SolutionResult,
)

__all__ = [
    "OUTPUT_LIMIT_BYTES",
    "READER_LIMIT_BYTES",
    "RUNNER_PATH",
    "ProtocolError",
    "StreamResult",
    "default_prefork",
    "drain_bounded",
    "encode_job",
    "max_line_bytes",
    "new_nonce",
    "parse_row",
    "read_results",
    "wait_ready",
]

RUNNER_PATH = Path(__file__).with_name("runner.py")
# A test's output beyond this kills its process (the runner sets RLIMIT_FSIZE on the memfd).
OUTPUT_LIMIT_BYTES = 1024 * 1024
# The asyncio reader's buffer for a runner's stdout; a longer line is a protocol error.
READER_LIMIT_BYTES = 64 * 1024 * 1024
_MESSAGE_CHARS = 1000
_TYPE_CHARS = 200


class ProtocolError(Exception):
    """The runner's stream is malformed; treated like a crashed sandbox, never trusted."""


@dataclass
class StreamResult:
    """What one runner process produced: complete rows by solution index, and whether it ended."""

    rows: dict[int, SolutionResult] = field(default_factory=dict)
    ended: bool = False
    deadline_hit: bool = False
    notes: list[str] = field(default_factory=list)


def default_prefork(parallel: int) -> int:
    """Children a pooled runner forks before its job arrives: the first two waves.

    A fork costs ~10-20 ms of CPU under gVisor's ptrace platform; forked while the runner idles in
    the pool it is off the request's path (5x10 request, in-sandbox: 151 ms with none, 117 ms with
    2, 70 ms with 5). A standby the job does not need is killed unused, wasting its fork, so the
    default stays below the cascade's usual k (3 and 10 solutions per request).
    """
    return 2 * max(1, parallel)


def new_nonce() -> str:
    """A per-job value every result line must echo (fake lines written by user code lack it)."""
    return secrets.token_hex(16)


def encode_job(
    job: ExecutionJob,
    nonce: str,
    *,
    parallel: int,
    output_limit_bytes: int = OUTPUT_LIMIT_BYTES,
    nofile: int = 64,
) -> bytes:
    """One JSON line for the runner's stdin."""
    doc = {
        "nonce": nonce,
        "solutions": list(job.solutions),
        "tests": list(job.tests),
        "entry_point": job.entry_point,
        "setup_code": job.setup_code,
        "timeout_s": job.limits.test_timeout_s,
        "memory_bytes": job.limits.memory_bytes,
        "output_bytes": job.limits.output_bytes,
        "output_limit_bytes": output_limit_bytes,
        "parallel": parallel,
        "nofile": nofile,
    }
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


def max_line_bytes(job: ExecutionJob) -> int:
    """The largest honest row line: each cell's output may be \\u-escaped (6x) plus its texts."""
    per_cell = 6 * (job.limits.output_bytes + _MESSAGE_CHARS + _TYPE_CHARS) + 256
    return 4096 + len(job.tests) * per_cell


def _text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise ProtocolError("expected a string")
    return value[:limit]


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ProtocolError("expected a non-negative number")
    return float(value)


def parse_row(doc: Any, job: ExecutionJob, *, index_map: list[int]) -> SolutionResult:
    """Validates one `solution` line; `index_map` maps the sub-job's indices to the request's."""
    if not isinstance(doc, dict):
        raise ProtocolError("row is not an object")
    local = doc.get("index")
    if not isinstance(local, int) or isinstance(local, bool) or not 0 <= local < len(index_map):
        raise ProtocolError("row index out of range")
    cells = doc.get("tests")
    if not isinstance(cells, list) or len(cells) != len(job.tests):
        raise ProtocolError("row has the wrong number of tests")
    tests: list[CellResult] = []
    for position, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("index") != position:
            raise ProtocolError("test cell out of order")
        try:
            outcome = Outcome[cell.get("outcome", "")]
        except KeyError as exc:
            raise ProtocolError("unknown outcome") from exc
        stdout = _text(cell.get("stdout", ""), job.limits.output_bytes)
        tests.append(
            CellResult(
                test_index=position,
                outcome=outcome,
                exception_type=_text(cell.get("type", ""), _TYPE_CHARS),
                message=_text(cell.get("message", ""), _MESSAGE_CHARS),
                duration_s=_number(cell.get("duration_s", 0.0)),
                stdout=stdout,
                output_truncated=bool(cell.get("truncated", False)),
            )
        )
    load_error = None
    raw_error = doc.get("load_error")
    if raw_error is not None:
        if not isinstance(raw_error, dict):
            raise ProtocolError("load_error is not an object")
        load_error = LoadError(
            exception_type=_text(raw_error.get("type", ""), _TYPE_CHARS),
            message=_text(raw_error.get("message", ""), _MESSAGE_CHARS),
        )
    return SolutionResult(
        solution_index=index_map[local],
        tests=tuple(tests),
        load_error=load_error,
        peak_memory_bytes=int(_number(doc.get("peak_memory_bytes", 0))),
        cpu_time_s=_number(doc.get("cpu_time_s", 0.0)),
    )


async def _readline(stdout: asyncio.StreamReader, limit: int) -> bytes:
    """One line of at most `limit` bytes; longer means a broken or hostile stream."""
    try:
        line = await stdout.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial  # EOF; a partial line is rejected by the caller
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError(f"result line longer than the reader's limit ({limit})") from exc
    if len(line) > limit:
        raise ProtocolError(f"result line longer than {limit} bytes")
    return line


async def wait_ready(stdout: asyncio.StreamReader, *, limit: int = 4096) -> dict[str, Any]:
    """Waits for the runner's `ready` line; the caller bounds the wait with a timeout."""
    line = await _readline(stdout, limit)
    try:
        doc = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"runner did not start: {line[:200]!r}") from exc
    if not isinstance(doc, dict) or doc.get("kind") != "ready":
        raise ProtocolError(f"runner did not start: {line[:200]!r}")
    return doc


async def read_results(
    stdout: asyncio.StreamReader,
    job: ExecutionJob,
    nonce: str,
    *,
    index_map: list[int],
    result: StreamResult,
) -> None:
    """Fills `result` from the stream until `end`, EOF or a protocol error.

    Rows land in `result` as they arrive, so a caller that cancels this (deadline) keeps them.
    """
    limit = max_line_bytes(job)
    while True:
        line = await _readline(stdout, limit)
        if not line.endswith(b"\n"):
            if line:
                result.notes.append("runner stream ended mid-line")
            return
        try:
            doc = json.loads(line)
        except ValueError as exc:
            raise ProtocolError("result line is not JSON") from exc
        if not isinstance(doc, dict) or doc.get("nonce") != nonce:
            raise ProtocolError("result line without the job's nonce")
        kind = doc.get("kind")
        if kind == "end":
            result.ended = True
            return
        if kind != "solution":
            raise ProtocolError(f"unexpected line kind {kind!r}")
        row = parse_row(doc, job, index_map=index_map)
        if row.solution_index in result.rows:
            raise ProtocolError("duplicate row")
        result.rows[row.solution_index] = row


async def drain_bounded(stream: asyncio.StreamReader | None, keep: int = 4096) -> bytes:
    """Reads a stream to EOF keeping only its last `keep` bytes (runsc/runner diagnostics)."""
    tail = b""
    if stream is None:
        return tail
    with contextlib.suppress(Exception):
        while chunk := await stream.read(65536):
            tail = (tail + chunk)[-keep:]
    return tail
