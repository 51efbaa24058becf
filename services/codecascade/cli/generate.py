"""`cascade generate`: send a task to the router and show the cascade as it runs."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TextIO

import grpc

from codecascade.cli.examples import TASK_EXAMPLES
from codecascade.cli.tenants import router_channel, tls_options
from codecascade.v1 import cascade_service_pb2 as pb
from codecascade.v1 import cascade_service_pb2_grpc as pb_grpc

__all__ = ["add_parser", "build_request", "generate", "render_answer"]

DEFAULT_ROUTER = "127.0.0.1:50060"
_DECISION = {
    pb.DECISION_ACCEPTED: "accepted",
    pb.DECISION_ESCALATED: "escalated",
    pb.DECISION_SKIPPED: "skipped",
    pb.DECISION_FINAL: "final",
    pb.DECISION_UNTESTED: "untested",
}


def build_request(
    prompt: str, *, entry_point: str = "", seed: int | None = None, max_tier: str = ""
) -> pb.GenerateRequest:
    request = pb.GenerateRequest(task=pb.Task(prompt=prompt, entry_point=entry_point))
    if seed is not None:
        request.seed = seed
    if max_tier:
        request.overrides.max_tier = max_tier
    return request


def _progress(message: pb.GenerateStreamResponse, out: TextIO) -> None:
    kind = message.WhichOneof("event")
    if kind == "tier_started":
        e = message.tier_started
        generations = e.test_generations or e.k  # a router older than the field: t = k
        work = (
            f"{e.k} solutions + {generations} x {e.test_lines} test lines"
            if e.k
            else "1 greedy answer"
        )
        print(f"[{e.tier}] generating {work} ...", file=out, flush=True)
    elif kind == "candidates_generated":
        c = message.candidates_generated
        print(
            f"[{c.tier}] {c.solutions} solutions, {c.tests} tests kept "
            f"({c.usage.completion_tokens} tokens, ${c.usage.cost_usd:.6f})",
            file=out,
            flush=True,
        )
    elif kind == "tests_executed":
        t = message.tests_executed
        m = t.matrix
        print(
            f"[{t.tier}] sandbox: {m.solutions} x {m.tests} matrix, {m.passed_cells} passing "
            f"cells, score {t.score:.2f} (threshold {t.threshold:.2f})",
            file=out,
            flush=True,
        )
    elif kind == "escalated":
        x = message.escalated
        print(f"[{x.from_tier} -> {x.to_tier}] escalated: {x.reason}", file=out, flush=True)
    elif kind == "tier_waking":
        w = message.tier_waking
        print(
            f"[{w.tier}] no ready replica ({w.reason}); waiting up to "
            f"{w.budget.ToMilliseconds() / 1000:.0f} s for it to start ...",
            file=out,
            flush=True,
        )


def render_answer(response: pb.GenerateResponse) -> str:
    """The answer and the path it took, as a person wants to read it."""
    lines = ["", "# answer", response.code.rstrip(), "", "# path"]
    lines.append(
        f"{'tier':<6}{'decision':<11}{'score':>6}{'θ':>6}{'tokens':>8}{'cost $':>11}  reason"
    )
    for a in response.attempts:
        tokens = a.solution_usage.completion_tokens + a.test_usage.completion_tokens
        cost = a.solution_usage.cost_usd + a.test_usage.cost_usd
        lines.append(
            f"{a.tier:<6}{_DECISION.get(a.decision, '?'):<11}{a.score:>6.2f}{a.threshold:>6.2f}"
            f"{tokens:>8}{cost:>11.6f}  {a.reason}"
        )
    usage = response.usage
    lines.append(
        f"answered by {response.tier} ({_DECISION.get(response.decision, '?')}) in "
        f"{response.elapsed.ToMilliseconds() / 1000:.1f} s; total {usage.completion_tokens} "
        f"generated tokens, ${usage.cost_usd:.6f}; trace {response.trace_id}"
    )
    if response.degraded:
        lines.append(f"DEGRADED: {response.degraded_reason}")
    if response.cold_tier:
        lines.append(f"COLD: tier {response.cold_tier} had no ready replica; best earlier answer")
    return "\n".join(lines)


async def generate(
    address: str,
    request: pb.GenerateRequest,
    *,
    timeout_s: float,
    out: TextIO = sys.stderr,
    api_key: str = "",
    tls: dict[str, str] | None = None,
) -> pb.GenerateResponse:
    """Runs the request through GenerateStream, printing progress to `out`."""
    metadata = (("authorization", f"Bearer {api_key}"),) if api_key else ()
    async with router_channel(address, **(tls or {})) as channel:
        stub = pb_grpc.CascadeServiceStub(channel)
        stream = stub.GenerateStream(
            pb.GenerateStreamRequest(request=request), timeout=timeout_s, metadata=metadata
        )
        completed: pb.GenerateResponse | None = None
        # Read to the end of the stream (the router closes it after `completed`): the call, and
        # its client span, end with it instead of whenever the abandoned iterator is collected.
        async for message in stream:
            if message.WhichOneof("event") == "completed":
                completed = message.completed
            else:
                _progress(message, out)
    if completed is None:
        raise RuntimeError("the router closed the stream without an answer")
    return completed


def _read_prompt(args: argparse.Namespace) -> tuple[str, str]:
    if args.file == "-":
        return sys.stdin.read(), args.entry_point
    if args.file:
        return Path(args.file).read_text(encoding="utf-8"), args.entry_point
    example = TASK_EXAMPLES[args.example]
    return example.prompt, args.entry_point or example.entry_point


def _run(args: argparse.Namespace) -> int:
    prompt, entry_point = _read_prompt(args)
    request = build_request(prompt, entry_point=entry_point, seed=args.seed, max_tier=args.max_tier)
    try:
        response = asyncio.run(
            generate(
                args.address,
                request,
                timeout_s=args.timeout,
                api_key=args.key or os.environ.get("CODECASCADE_API_KEY", ""),
                tls={"ca_file": args.tls_ca, "cert_file": args.tls_cert, "key_file": args.tls_key},
            )
        )
    except grpc.aio.AioRpcError as exc:
        print(f"cascade generate: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    print(render_answer(response))
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "generate",
        help="write code for a task with the cascade",
        description="Send a task (a signature with docstring, or an MBPP-style description) to "
        "the router; progress goes to stderr, the answer and its path to stdout.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--file", help="read the task from FILE ('-' for stdin)")
    source.add_argument(
        "--example", choices=sorted(TASK_EXAMPLES), default="running_max", help="a built-in task"
    )
    parser.add_argument("--entry-point", default="", help="the function to write")
    parser.add_argument("--address", default=DEFAULT_ROUTER, help="router address")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed")
    parser.add_argument("--max-tier", default="", help="do not escalate past this tier")
    parser.add_argument("--timeout", type=float, default=600.0, help="deadline in seconds")
    parser.add_argument(
        "--key", default="", help="API key for the router (default: $CODECASCADE_API_KEY)"
    )
    tls_options(parser)
    parser.set_defaults(run=_run)
