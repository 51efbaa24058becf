"""Host-side validation of the runner's stream, and the isolated-rerun policy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest

from codecascade.sandbox.execution import CellResult, ExecutionJob, Limits, Outcome, SolutionResult
from codecascade.sandbox.isolation import execute_isolating
from codecascade.sandbox.protocol import (
    ProtocolError,
    StreamResult,
    encode_job,
    parse_row,
    read_results,
)

JOB = ExecutionJob(
    solutions=("a", "b", "c"),
    tests=("t0", "t1"),
    entry_point="f",
    setup_code="",
    limits=Limits(test_timeout_s=1.0, memory_bytes=1 << 28, output_bytes=8),
)


def cell(i: int, outcome: str = "PASSED", **extra: object) -> dict:
    return {"index": i, "outcome": outcome, "type": "", "message": "", **extra}


def line(index: int, nonce: str = "n", **extra: object) -> bytes:
    doc = {"kind": "solution", "index": index, "tests": [cell(0), cell(1)], "nonce": nonce}
    doc.update(extra)
    return json.dumps(doc).encode() + b"\n"


async def feed(*lines: bytes) -> StreamResult:
    reader = asyncio.StreamReader()
    for item in lines:
        reader.feed_data(item)
    reader.feed_eof()
    result = StreamResult()
    await read_results(reader, JOB, "n", index_map=[0, 1, 2], result=result)
    return result


def test_encode_job_roundtrip() -> None:
    doc = json.loads(encode_job(JOB, "n", parallel=2))
    assert doc["solutions"] == ["a", "b", "c"] and doc["nonce"] == "n"
    assert doc["memory_bytes"] == 1 << 28 and doc["parallel"] == 2


def test_parse_row_maps_indices_and_bounds_text() -> None:
    doc = json.loads(line(0))
    doc["tests"][0]["stdout"] = "x" * 100
    row = parse_row(doc, JOB, index_map=[2])
    assert row.solution_index == 2 and row.tests[0].outcome is Outcome.PASSED
    assert len(row.tests[0].stdout) == 8


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(index=7),
        lambda d: d.update(index=True),
        lambda d: d["tests"].pop(),
        lambda d: d["tests"][0].update(outcome="GREAT"),
        lambda d: d["tests"][0].update(index=1),
        lambda d: d["tests"][0].update(duration_s=-1),
        lambda d: d.update(load_error="x"),
    ],
)
def test_parse_row_rejects(mutate) -> None:
    doc = json.loads(line(0))
    mutate(doc)
    with pytest.raises(ProtocolError):
        parse_row(doc, JOB, index_map=[0, 1, 2])


async def test_stream_complete() -> None:
    result = await feed(line(1), line(0), line(2), b'{"kind": "end", "nonce": "n"}\n')
    assert result.ended and sorted(result.rows) == [0, 1, 2]


async def test_stream_rejects_foreign_and_duplicate_lines() -> None:
    with pytest.raises(ProtocolError):
        await feed(line(0, nonce="forged"))
    with pytest.raises(ProtocolError):
        await feed(line(0), line(0))
    with pytest.raises(ProtocolError):
        await feed(b"not json\n")


async def test_stream_cut_short_keeps_complete_rows() -> None:
    result = await feed(line(0), line(1)[:20])
    assert not result.ended and list(result.rows) == [0]


def _row(index: int, outcome: Outcome = Outcome.PASSED) -> SolutionResult:
    return SolutionResult(index, tuple(CellResult(t, outcome) for t in range(2)))


async def test_isolated_rerun_after_a_crash() -> None:
    calls: list[list[int]] = []

    async def run_once(job: ExecutionJob, indices: Sequence[int], timeout_s: float) -> StreamResult:
        calls.append(list(indices))
        if len(indices) > 1:  # the shared sandbox dies after row 0
            return StreamResult(rows={0: _row(0)})
        if indices == [1]:  # solution 1 crashes its own sandbox too
            return StreamResult()
        return StreamResult(rows={indices[0]: _row(indices[0])}, ended=True)

    report = await execute_isolating(JOB, run_once, deadline_s=10, backend="fake")
    assert calls == [[0, 1, 2], [1], [2]]
    assert [r.isolated_rerun for r in report.solutions] == [False, True, True]
    assert [r.tests[0].outcome for r in report.solutions] == [
        Outcome.PASSED,
        Outcome.CRASHED,
        Outcome.PASSED,
    ]


async def test_deadline_fills_timeouts_without_rerun() -> None:
    async def run_once(job: ExecutionJob, indices: Sequence[int], timeout_s: float) -> StreamResult:
        return StreamResult(rows={0: _row(0)}, deadline_hit=True)

    report = await execute_isolating(JOB, run_once, deadline_s=1, backend="fake")
    assert report.solutions[2].tests[0].outcome is Outcome.TIMEOUT
    assert report.solutions[2].tests[0].exception_type == "DeadlineExceeded"
