"""`cascade sandbox run` (send a matrix to a running sandbox) and `cascade sandbox demo`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import grpc

from codecascade.cli.examples import SANDBOX_EXAMPLE
from codecascade.cli.supervisor import Child, ChildFailed, free_port, supervised
from codecascade.mesh.channels import open_channel
from codecascade.v1 import sandbox_service_pb2 as pb
from codecascade.v1 import sandbox_service_pb2_grpc as pb_grpc

__all__ = ["add_parser"]

_SYMBOL = {
    pb.OUTCOME_PASSED: "pass",
    pb.OUTCOME_FAILED: "FAIL",
    pb.OUTCOME_ERROR: "ERR",
    pb.OUTCOME_TIMEOUT: "TIME",
    pb.OUTCOME_MEMORY_EXCEEDED: "MEM",
    pb.OUTCOME_CRASHED: "CRASH",
}


def _example_request() -> tuple[pb.ExecuteRequest, tuple[str, ...]]:
    example = SANDBOX_EXAMPLE
    request = pb.ExecuteRequest(
        solutions=example.solutions, tests=example.tests, entry_point=example.entry_point
    )
    request.limits.test_timeout.FromMilliseconds(1000)
    return request, example.labels


def _file_request(args: argparse.Namespace) -> tuple[pb.ExecuteRequest, tuple[str, ...]]:
    solutions = [Path(p).read_text(encoding="utf-8") for p in args.solution]
    tests = [
        line
        for line in Path(args.tests).read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("assert")
    ]
    request = pb.ExecuteRequest(solutions=solutions, tests=tests, entry_point=args.entry_point)
    return request, tuple(args.solution)


def render(response: pb.ExecuteResponse, labels: tuple[str, ...]) -> str:
    """The pass matrix as a table a person can read: one row per solution."""
    width = max((len(label) for label in labels), default=8) + 2
    count = len(response.solutions[0].tests) if response.solutions else 0
    lines = [" " * width + " ".join(f"t{j:<5}" for j in range(count))]
    for row in response.solutions:
        label = labels[row.solution_index] if row.solution_index < len(labels) else "?"
        cells = " ".join(f"{_SYMBOL.get(cell.outcome, '?'):<6}" for cell in row.tests)
        note = (
            f"  load error: {row.load_error.exception_type}" if row.HasField("load_error") else ""
        )
        lines.append(f"{label:<{width}}{cells}{note}")
    lines.append(
        f"backend={response.backend} elapsed={response.elapsed.ToMilliseconds()} ms "
        f"test_timeout={response.applied_limits.test_timeout.ToMilliseconds()} ms"
    )
    return "\n".join(lines)


async def _execute(
    address: str, request: pb.ExecuteRequest, timeout_s: float
) -> pb.ExecuteResponse:
    async with open_channel(address) as channel:
        stub = pb_grpc.SandboxServiceStub(channel)
        return await stub.Execute(request, timeout=timeout_s)


def _run(args: argparse.Namespace) -> int:
    if args.solution and args.tests:
        request, labels = _file_request(args)
    else:
        request, labels = _example_request()
    try:
        response = asyncio.run(_execute(args.address, request, args.timeout))
    except grpc.aio.AioRpcError as exc:
        print(f"sandbox error: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    print(render(response, labels))
    return 0


async def _demo(insecure: bool) -> int:
    env = {"SANDBOX_BACKEND": "process", "SANDBOX_ALLOW_INSECURE": "true"} if insecure else {}
    child = Child("sandbox", ["serve", "sandbox"], free_port(), env=env)
    request, labels = _example_request()
    try:
        async with supervised([child]):
            print(f"sandbox serving on {child.address}; running the built-in example...")
            response = await _execute(child.address, request, 60.0)
    except ChildFailed as exc:
        print(f"sandbox failed to start: {exc}", file=sys.stderr)
        return 1
    print(render(response, labels))
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("sandbox", help="run code in the sandbox service")
    sub = parser.add_subparsers(dest="sandbox_command", metavar="COMMAND", required=True)
    run = sub.add_parser("run", help="send solutions and tests to a running sandbox service")
    run.add_argument("--address", default="127.0.0.1:50061", help="sandbox service address")
    run.add_argument("--solution", action="append", default=[], help="a solution file (repeat)")
    run.add_argument("--tests", help="a file of assert lines")
    run.add_argument("--entry-point", default="solution", help="function under test")
    run.add_argument("--timeout", type=float, default=60.0, help="call deadline in seconds")
    run.set_defaults(run=_run)
    demo = sub.add_parser(
        "demo", help="start a sandbox service, run the built-in example through it, stop it"
    )
    demo.add_argument(
        "--insecure-process-backend", action="store_true", help="use plain processes (INSECURE)"
    )
    demo.set_defaults(run=lambda args: asyncio.run(_demo(args.insecure_process_backend)))
