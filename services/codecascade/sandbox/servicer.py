"""SandboxService over gRPC: proto in, domain job to the backend, proto out. Nothing else."""

from __future__ import annotations

import logging
from typing import Any

import grpc

from codecascade.mesh.context import current_identity
from codecascade.mesh.deadlines import remaining_s
from codecascade.mesh.wire import duration, seconds
from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.execution import Backend, ExecutionReport, JobObserver, Limits
from codecascade.sandbox.validation import RequestedLimits, validate_job
from codecascade.v1 import sandbox_service_pb2 as pb
from codecascade.v1 import sandbox_service_pb2_grpc as pb_grpc

__all__ = ["SandboxServicer"]

_log = logging.getLogger(__name__)


def _limits_to_proto(limits: Limits) -> pb.ExecutionLimits:
    return pb.ExecutionLimits(
        test_timeout=duration(limits.test_timeout_s),
        memory_bytes=limits.memory_bytes,
        output_bytes=limits.output_bytes,
    )


def report_to_proto(report: ExecutionReport) -> pb.ExecuteResponse:
    """The wire form of a report; outcome enum numbers equal the domain enum's values."""
    rows = []
    for row in report.solutions:
        rows.append(
            pb.SolutionResult(
                solution_index=row.solution_index,
                load_error=(
                    pb.LoadError(
                        exception_type=row.load_error.exception_type,
                        message=row.load_error.message,
                    )
                    if row.load_error
                    else None
                ),
                tests=[
                    pb.TestResult(
                        test_index=cell.test_index,
                        outcome=cell.outcome.value,  # type: ignore[arg-type]  # same numbers by design
                        exception_type=cell.exception_type,
                        message=cell.message,
                        duration=duration(cell.duration_s),
                        stdout=cell.stdout,
                        output_truncated=cell.output_truncated,
                    )
                    for cell in row.tests
                ],
                peak_memory_bytes=row.peak_memory_bytes,
                cpu_time=duration(row.cpu_time_s),
                isolated_rerun=row.isolated_rerun,
            )
        )
    return pb.ExecuteResponse(
        solutions=rows,
        elapsed=duration(report.elapsed_s),
        backend=report.backend,
        applied_limits=_limits_to_proto(report.limits),
    )


class SandboxServicer(pb_grpc.SandboxServiceServicer):
    """Validates each request and hands it to the configured backend."""

    def __init__(
        self, settings: SandboxSettings, backend: Backend, observer: JobObserver | None = None
    ) -> None:
        self._settings = settings
        self._backend = backend
        self._observer = observer

    async def Execute(
        self, request: pb.ExecuteRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ExecuteResponse:
        identity = current_identity()
        limits = request.limits
        job = validate_job(
            self._settings,
            solutions=list(request.solutions),
            tests=list(request.tests),
            entry_point=request.entry_point,
            setup_code=request.setup_code,
            limits=RequestedLimits(
                test_timeout_s=seconds(limits.test_timeout),
                memory_bytes=limits.memory_bytes,
                output_bytes=limits.output_bytes,
            ),
            tenant=identity.tenant if identity else "",
            request_id=identity.request_id if identity else "",
        )
        deadline = remaining_s(context, default=self._settings.request_deadline_s)
        report = await self._backend.execute(job, deadline_s=deadline)
        if self._observer is not None:
            self._observer.job_finished(report)
        return report_to_proto(report)
