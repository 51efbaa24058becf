"""`cascade eval` and `cascade calibrate`: the offline method of DESIGN §1 from the command line.

`eval` is wiring: it starts each embedded tier server in turn (as `cascade up` does), or calls
the deployed endpoints `--endpoints` names (a platform team's GPU tiers), the gVisor sandbox
in-process, and hands them to `codecascade.evaluation`, which does the work and caches
it. `calibrate` reads the cache only: no model or sandbox runs. The offline grid needs numpy
(and the plots matplotlib), so those modules are imported when a command runs, never when
`cascade` starts.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from codecascade.cli.supervisor import ChildFailed, supervised
from codecascade.cli.up import MeshFile, local_tier
from codecascade.core.tiers import TierSpec
from codecascade.evaluation.cache import EvalCache, EvalSettings
from codecascade.evaluation.datasets import EvalProblem, load_dataset
from codecascade.evaluation.errors import EvaluationError
from codecascade.evaluation.execute import execute_all, execute_cross
from codecascade.evaluation.harvest import (
    CpuClock,
    ProcessCpuClock,
    WallCpuClock,
    harvest_tier,
)
from codecascade.mesh.settings import ConfigError, read_yaml_mapping
from codecascade.router.policy import CascadePolicy
from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.errors import SandboxUnavailable
from codecascade.sandbox.runsc import RunscBackend
from codecascade.tierclient.connect import connect_registry

if TYPE_CHECKING:  # numpy is imported when a command runs, never when `cascade` starts
    from codecascade.evaluation.grid import OutcomeTable

__all__ = ["add_calibrate_parser", "add_eval_parser"]

_TIMEOUT_S = 900.0


async def _harvest_tier(
    name: str,
    config: TierSpec,
    clock: CpuClock,
    cache: EvalCache,
    problems: list[EvalProblem],
    args: argparse.Namespace,
) -> None:
    from codecascade.evaluation.grid import grid_ks, grid_ls

    ks, ls = grid_ks(args.k_max), grid_ls(args.l_max)
    registry = connect_registry([config])
    try:
        await harvest_tier(
            cache,
            problems,
            name,
            registry,
            clock,
            samples=max((k for k in ks if k >= 2), default=0),
            lines=max(ls),
            out=sys.stderr,
        )
    finally:
        await registry.close()


async def _harvest(
    sources: TierSources,
    name: str,
    cache: EvalCache,
    problems: list[EvalProblem],
    args: argparse.Namespace,
) -> None:
    done = cache.generations(name)
    if all(p.task_id in done for p in problems):
        return
    deployed = sources.endpoints.get(name)
    if deployed is not None:
        # A tier served elsewhere (GPUs): its cost in seconds is the wall time of its calls.
        await _harvest_tier(name, deployed, WallCpuClock(1), cache, problems, args)
        return
    tier = next(t for t in sources.mesh.tiers if t.name == name)
    if tier.model in ("S", "M", "L"):
        from codecascade.tierserver.assemble import main as fetch

        if fetch([tier.model]) != 0:
            raise ChildFailed(f"the embedded model {tier.model} could not be fetched")
    child, config = local_tier(tier, timeout_s=_TIMEOUT_S)
    async with supervised([child], start_timeout_s=args.start_timeout):
        assert child.process is not None
        clock = ProcessCpuClock(child.process.pid)
        await _harvest_tier(name, config, clock, cache, problems, args)


@dataclass(frozen=True, slots=True)
class TierSources:
    """Where each tier comes from: a deployed endpoint, else a server started here."""

    mesh: MeshFile
    endpoints: dict[str, TierSpec]

    def spec(self, name: str) -> TierSpec | None:
        if name in self.endpoints:
            return self.endpoints[name]
        return next((t for t in self.mesh.tiers if t.name == name), None)

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys([*self.endpoints, *(t.name for t in self.mesh.tiers)]))


def _load_endpoints(path: str | None) -> dict[str, TierSpec]:
    """The `tiers:` list of a YAML file (the router's own config file has one)."""
    if path is None:
        return {}
    try:
        document = read_yaml_mapping(Path(path), named=f"--endpoints {path}")
    except ConfigError as exc:
        raise EvaluationError(str(exc)) from exc
    entries = document.get("tiers")
    if not isinstance(entries, list) or not entries:
        raise EvaluationError(f"--endpoints {path}: expected a non-empty `tiers:` list")
    configs = []
    for index, entry in enumerate(entries):
        try:
            spec = TierSpec.model_validate(entry)
        except ValidationError as exc:
            problems = "; ".join(
                f"tiers[{index}].{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors()
            )
            raise EvaluationError(f"--endpoints {path}: {problems}") from exc
        if not spec.address:
            raise EvaluationError(f"--endpoints {path}: tiers[{index}].address: Field required")
        configs.append(spec)
    return {c.name: c for c in configs}


def _prepare(args: argparse.Namespace) -> tuple[list[EvalProblem], TierSources, EvalCache]:
    """Reads the dataset and tiers and opens the cache (plain file I/O, before the loop starts)."""
    problems = load_dataset(args.dataset, limit=args.limit)
    sources = TierSources(
        MeshFile.load(Path(args.mesh) if args.mesh else None), _load_endpoints(args.endpoints)
    )
    specs = {name: sources.spec(name) for name in args.tiers}
    unknown = [name for name, spec in specs.items() if spec is None]
    if unknown:
        raise EvaluationError(f"unknown tiers {unknown} (known: {sources.names})")
    settings = EvalSettings(
        dataset=args.dataset,
        tiers=tuple(spec for spec in specs.values() if spec is not None),
        k_max=args.k_max,
        l_max=args.l_max,
        seed=args.seed,
        max_tokens=args.max_tokens,
        task_ids=tuple(p.task_id for p in problems),
    )
    return problems, sources, EvalCache.open(Path(os.path.abspath(args.cache)), settings)


def _sandbox_state(cache: EvalCache) -> Path:
    """The sandbox's runsc root for this cache: outside the cache, which people commit and copy,
    and the same on every run, so a rerun's reaper clears what a killed run left behind."""
    key = hashlib.sha256(str(cache.root).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "codecascade-eval" / key


async def _eval(
    args: argparse.Namespace, problems: list[EvalProblem], sources: TierSources, cache: EvalCache
) -> int:
    # Hours of generation get stopped with Ctrl-C or `kill`: cancel the run so the tier servers
    # and sandboxes it started are stopped too (the cache keeps every finished problem).
    task = asyncio.current_task()
    if task is not None and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):  # only the main thread may own signals
            asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    backend = RunscBackend(SandboxSettings(pool_size=1, sandbox_state_dir=_sandbox_state(cache)))
    await backend.start()  # before hours of generation: refuse early if gVisor cannot run
    try:
        for name in args.tiers:
            await _harvest(sources, name, cache, problems, args)
            # Each finished tier is executed before the next one generates (never at the same
            # time: sharing the cores would skew the measured CPU-seconds), so that
            # `cascade calibrate --tiers` can use the finished tiers while later ones still run.
            await execute_all(cache, problems, backend, out=sys.stderr)
    finally:
        await backend.close()
    from codecascade.evaluation.calibrate import baselines
    from codecascade.evaluation.grid import OutcomeTable

    table = OutcomeTable.from_cache(cache)
    print(f"{len(table.task_ids)} problems in {args.cache}; each tier alone, all problems:")
    for config in baselines(table):
        p = table.point(config)
        print(
            f"  {config.label():<16} pass@1 {100 * p.accuracy:5.1f} %  "
            f"${p.cost_per_1k:.4f}/1k problems  {p.tokens:.0f} tokens  {p.cpu_s:.1f} CPU-s"
        )
    return 0


async def _cross(cache: EvalCache) -> int:
    """The cross pass alone (no model): every tier's solutions against every tier's asserts."""
    task = asyncio.current_task()
    if task is not None and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    backend = RunscBackend(SandboxSettings(pool_size=1, sandbox_state_dir=_sandbox_state(cache)))
    await backend.start()
    try:
        done = await execute_cross(cache, backend, out=sys.stderr)
    finally:
        await backend.close()
    print(f"{done} cross matrices added to {cache.root}; {len(cache.cross())} in all")
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    try:
        if args.cross:
            return asyncio.run(_cross(EvalCache.load(Path(os.path.abspath(args.cache)))))
        return asyncio.run(_eval(args, *_prepare(args)))
    except (EvaluationError, SandboxUnavailable, ChildFailed) as exc:
        print(f"cascade eval: {exc}", file=sys.stderr)
        return 1
    except asyncio.CancelledError:
        print(
            f"cascade eval: stopped; {args.cache} keeps what was finished, the same command "
            "resumes",
            file=sys.stderr,
        )
        return 130


def _calibrate(args: argparse.Namespace) -> int:
    from codecascade.evaluation.calibrate import calibrate, to_policy
    from codecascade.evaluation.grid import OutcomeTable
    from codecascade.evaluation.report import render, write_block

    cache = EvalCache.load(Path(args.cache))
    table = OutcomeTable.from_cache(cache, args.tiers)
    if len(table.task_ids) < 2:
        print("cascade calibrate: the cache needs at least 2 executed problems", file=sys.stderr)
        return 1
    result = calibrate(table, args.budget, seed=args.seed)
    chosen = result.chosen
    policy = to_policy(
        chosen.config,
        table.tiers,
        max_tokens=cache.settings.max_tokens,
        description=(
            f"cascade calibrate: budget ${args.budget:g}/1k problems, {cache.settings.dataset}, "
            f"validation pass@1 {100 * chosen.accuracy:.1f} % at ${chosen.cost_per_1k:.4f}/1k; "
            f"held out {100 * result.held_out.accuracy:.1f} % at "
            f"${result.held_out.cost_per_1k:.4f}/1k"
        ),
    )
    if args.study or args.options:
        policy = _study(args, cache, table) or policy
    text = policy.to_yaml()
    if CascadePolicy.from_yaml(text, source=args.out) != policy:
        raise RuntimeError("the written policy does not read back the same")
    Path(args.out).write_text(text, encoding="utf-8")
    print(
        f"{result.configurations} configurations on {len(result.front)}-point validation front; "
        f"budget ${args.budget:g}/1k problems"
    )
    for label, p in (("chosen, validation", chosen), ("chosen, held out", result.held_out)):
        print(
            f"  {label:<22} {p.config.label()}: pass@1 {100 * p.accuracy:.1f} % "
            f"${p.cost_per_1k:.4f}/1k  {p.cpu_s:.1f} CPU-s/problem ({p.problems} problems)"
        )
    for _, held in result.baselines:
        print(
            f"  {'alone, held out':<22} {held.config.label()}: pass@1 "
            f"{100 * held.accuracy:.1f} % ${held.cost_per_1k:.4f}/1k  {held.cpu_s:.1f} CPU-s"
        )
    print(f"policy written to {args.out}")
    plots: list[str] = []
    if args.plots:
        from codecascade.evaluation.plots import plot_fronts

        path = plot_fronts(
            result.points,
            Path(args.plots) / "pareto.png",
            title=f"{cache.settings.dataset}: validation split ({chosen.problems} of "
            f"{len(table.task_ids)} problems)",
        )
        print(f"plot written to {path}")
        plots.append(str(path))
    if args.report:
        report = Path(args.report)
        relative = [os.path.relpath(p, report.resolve().parent) for p in plots]
        write_block(report, render(cache.settings, result, len(table.task_ids), plots=relative))
        print(f"results written to {report}")
    return 0


def _study(args: argparse.Namespace, cache: EvalCache, table: OutcomeTable) -> CascadePolicy | None:
    """The options beyond the paper over several split seeds (`evaluation.study`): the report's
    study block (`--study`), and with `--options` the policy chosen by the mean over the seeds
    among configurations using them (a pre-router or a learned verifier it uses is trained on
    every problem)."""
    import numpy as np

    from codecascade.evaluation import verifier
    from codecascade.evaluation.calibrate import to_policy
    from codecascade.evaluation.prerouter import fit
    from codecascade.evaluation.report import (
        STUDY_BEGIN,
        STUDY_END,
        render_study,
        spread,
        write_block,
    )
    from codecascade.evaluation.study import OPTION_SETS, failed_greedy, run_study

    problems = {p.task_id: p.problem for p in load_dataset(cache.settings.dataset)}
    sets = dict(OPTION_SETS) if args.study else {}
    requested = "chosen: " + ", ".join(args.options) if args.options else ""
    if requested:
        sets[requested] = tuple(args.options)
    budget = args.budget if args.options_budget is None else args.options_budget
    studies = run_study(table, problems, seeds=args.seeds, option_sets=sets, budget_per_1k=budget)
    if args.study and args.report:
        shown = [s for s in studies if s.name in OPTION_SETS]
        plots: list[str] = []
        if args.plots:
            from codecascade.evaluation.plots import plot_study

            path = plot_study(
                shown,
                Path(args.plots) / "options.png",
                title=f"{cache.settings.dataset}: chosen by the mean over seeds {args.seeds}",
            )
            report = Path(args.report).resolve().parent
            plots.append(os.path.relpath(path, report))
        block = render_study(shown, dataset=cache.settings.dataset, plots=plots)
        write_block(Path(args.report), block, begin=STUDY_BEGIN, end=STUDY_END)
        print(f"study over seeds {args.seeds} written to {args.report}")
    if not requested:
        return None
    study = next(s for s in studies if s.name == requested)
    per_seed = study.at_budget
    if not per_seed:
        raise EvaluationError(f"no configuration using {args.options} fits ${budget:g}")
    config = per_seed[0].config
    model = None
    if config.skip:
        tier = config.steps[0][0]
        tasks = [problems[i] for i in table.task_ids]
        model = fit(tasks, failed_greedy(table, tier), tier=tier)
    picker = None
    if config.steps[-1][1].verify:
        everything = np.arange(len(table.task_ids), dtype=np.intp)
        picker = verifier.fit(table, config, everything)
    mean = sum(c.accuracy for c in per_seed) / len(per_seed)
    cost = sum(c.cost for c in per_seed) / len(per_seed)
    shares = [c.cost / r.reference.cost for c, r in zip(per_seed, study.seeds, strict=True)]
    print(
        f"  options {', '.join(args.options)}, chosen by the mean over seeds {args.seeds}: "
        f"{config.label()}: held out pass@1 {spread([c.accuracy for c in per_seed])} % at "
        f"{spread(shares)} % of the reference's cost (${cost:.4f}/1k; mean ± sd over the seeds)"
    )
    return to_policy(
        config,
        table.tiers,
        max_tokens=cache.settings.max_tokens,
        prerouter=model,
        verifier=picker,
        description=(
            f"cascade calibrate --options {' '.join(args.options)}: budget ${budget:g}/1k "
            f"problems, {cache.settings.dataset}, chosen by mean validation pass@1 over split "
            f"seeds {args.seeds}; held out mean {100 * mean:.1f} % at ${cost:.4f}/1k"
        ),
    )


def _run_calibrate(args: argparse.Namespace) -> int:
    try:
        return _calibrate(args)
    except (EvaluationError, ValueError) as exc:
        print(f"cascade calibrate: {exc}", file=sys.stderr)
        return 1


def add_eval_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "eval",
        help="one cached generation + sandbox pass per tier for offline cost/accuracy evaluation",
        description="Generate at the grid's largest k and l once per tier and problem, run the "
        "full pass matrices and the hidden tests in gVisor, and cache it all (resumable).",
    )
    parser.add_argument("--dataset", default="humaneval", help="humaneval or a JSONL path")
    parser.add_argument("--tiers", nargs="+", default=["S", "M", "L"], help="cheapest first")
    parser.add_argument("--k-max", type=int, default=10, help="largest k of the grid")
    parser.add_argument("--l-max", type=int, default=4, help="largest l of the grid")
    parser.add_argument("--limit", type=int, default=None, help="first N problems")
    parser.add_argument("--seed", type=int, default=1234, help="sampling seed")
    parser.add_argument("--max-tokens", type=int, default=384, help="tokens per solution")
    parser.add_argument("--cache", default=".cache/eval", help="cache directory")
    parser.add_argument("--mesh", default=None, help="mesh file (default: embedded S/M/L)")
    parser.add_argument(
        "--endpoints",
        default=None,
        help="YAML file with a `tiers:` list of deployed endpoints (the router's config file "
        "works): the tiers it names are called there instead of being started here",
    )
    parser.add_argument("--start-timeout", type=float, default=600.0, help="tier start, s")
    parser.add_argument(
        "--cross",
        action="store_true",
        help="no generation: run every tier's cached solutions against every tier's cached "
        "asserts in the sandbox (cache format 2: tests carried up the cascade, selection with "
        "all tiers' tests); resumable, reads --cache only",
    )
    parser.set_defaults(run=_run_eval)


def add_calibrate_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "calibrate",
        help="pick the cascade policy for a budget from an eval cache",
        description="Grid search on a seeded 30 % validation split, keep the Pareto front, "
        "write the most accurate policy within the budget, report it on the held-out 70 %.",
    )
    parser.add_argument(
        "--budget", type=float, required=True, help="dollars per 1000 problems (the paper's unit)"
    )
    parser.add_argument("--cache", default=".cache/eval", help="cache directory of `cascade eval`")
    parser.add_argument("--out", default="policy.yaml", help="policy file to write")
    parser.add_argument("--tiers", nargs="+", default=None, help="restrict to these cached tiers")
    parser.add_argument("--seed", type=int, default=0, help="validation split seed")
    parser.add_argument("--plots", default=None, help="directory for the Pareto PNG")
    parser.add_argument("--report", default=None, help="Markdown page to write the results into")
    parser.add_argument(
        "--options",
        nargs="+",
        choices=["early", "carry", "union", "prerouter", "greedy", "verifier"],
        default=None,
        help="choose the policy among configurations using these options beyond the paper "
        "(early exit, tests carried up, selection among every candidate, learned pre-router, "
        "the last tier's greedy answer checked first, the cheap tier's samples after a larger "
        "tier's greedy answer with the answer picked by a learned verifier), by the mean over "
        "--seeds; carry, union, greedy and verifier need `cascade eval --cross`",
    )
    parser.add_argument(
        "--options-budget",
        type=float,
        default=None,
        help="dollars per 1000 problems for the --options policy (default: --budget)",
    )
    parser.add_argument(
        "--study",
        action="store_true",
        help="measure each option alone and combined over --seeds (held out, mean and spread) "
        "and write it into --report",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="split seeds (--study)"
    )
    parser.set_defaults(run=_run_calibrate)
