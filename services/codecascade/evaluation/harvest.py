"""The one generation pass: per tier and problem, everything the grid's largest k and l need.

Calls are made one sample at a time (n = 1, seed + i) so that each sample's generated tokens and
CPU time are known exactly: the tier engine seeds sample i of an n-sample call with seed + i, so
sample i here is the sample i the router would get, and the first k samples are what a k-sample
request returns. A tier at k = 0 or 1 answers greedily, and a k = 1 tier writes one greedy test
generation: both are generated once more, greedily. Prompts, stops and sampling come from the
product's own classes (`solution_prompt`, `sampling_for`, `AssertSynthesizer`).

CPU-seconds come from a `CpuClock`: the tier server process's own CPU time (user + system, all
threads, from /proc) when it runs on this machine, else wall time x threads. Calls run one at a
time, so the difference across a call is that call's CPU.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Protocol, TextIO

from codecascade.evaluation.cache import AssertGeneration, Call, EvalCache, GenerationRecord
from codecascade.evaluation.datasets import EvalProblem
from codecascade.evaluation.progress import Progress
from codecascade.router.policy import TierPolicy
from codecascade.router.solutions import assemble_solution, sampling_for, solution_prompt
from codecascade.testsynth.examples import prompt_examples
from codecascade.testsynth.synthesis import AssertSynthesizer, SynthesisRequest
from codecascade.tierclient.errors import TierUnavailable
from codecascade.tierclient.registry import TierRegistry

__all__ = ["CpuClock", "ProcessCpuClock", "WallCpuClock", "generate_record", "harvest_tier"]


class CpuClock(Protocol):
    def seconds(self) -> float:
        """A CPU-seconds counter; only differences are used."""
        ...


class ProcessCpuClock:
    """User + system CPU time of a local process (every thread), read from /proc."""

    def __init__(self, pid: int) -> None:
        self._stat = Path(f"/proc/{pid}/stat")
        self._tick = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float:
        # Fields after the command name (which may hold spaces) start at the last ')'.
        fields = self._stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._tick


class WallCpuClock:
    """Wall time x threads: the fallback for a tier whose process is not on this machine."""

    def __init__(self, threads: int) -> None:
        self._threads = threads

    def seconds(self) -> float:
        return time.monotonic() * self._threads


class _Tier:
    def __init__(self, registry: TierRegistry, name: str, clock: CpuClock) -> None:
        config, client = registry.config(name), registry.client(name)
        if config is None or client is None:
            raise TierUnavailable(f"no endpoint configured for tier {name}")
        self.name, self.config, self.client, self.clock = name, config, client, clock
        self.synthesizer = AssertSynthesizer(registry)

    async def solutions(
        self,
        problem: EvalProblem,
        *,
        n: int,
        sampled: bool,
        seed: int,
        max_tokens: int,
        timeout_s: float,
    ) -> tuple[Call, ...]:
        """n solutions in one request, as the router asks (sample i is seeded seed + i)."""
        prompt = solution_prompt(problem.problem, instruct=self.config.prompt_format == "chat")
        policy = TierPolicy(
            tier=self.name, k=2 if sampled else 1, test_lines=1, max_tokens=max_tokens
        )
        params = replace(sampling_for(policy, seed=seed), n=n, stop=prompt.stop)
        cpu, wall = self.clock.seconds(), time.monotonic()
        result = await self.client.generate(
            prompt.text, params, timeout_s=timeout_s, prompt_format=prompt.format
        )
        cpu, wall = self.clock.seconds() - cpu, time.monotonic() - wall
        tokens = result.tokens_per_sample()
        return tuple(
            Call(
                text=text,
                tokens=count,
                cpu_s=cpu * share,
                wall_s=wall * share,
                code=assemble_solution(problem.problem, text, prompt=prompt),
            )
            for text, count, share in zip(result.texts, tokens, _shares(tokens), strict=True)
        )

    async def tests(
        self,
        problem: EvalProblem,
        *,
        n: int,
        sampled: bool,
        seed: int,
        lines: int,
        timeout_s: float,
    ) -> tuple[AssertGeneration, ...]:
        """n test generations in one request, as test synthesis asks."""
        request = SynthesisRequest(
            problem.problem,
            self.name,
            generations=n,
            lines=lines,
            max_tests=64,
            seed=seed,
            temperature=0.8 if sampled else 0.0,
            include_prompt_examples=False,  # kept once per problem, in `examples`
        )
        cpu, wall = self.clock.seconds(), time.monotonic()
        # The parsed generations before any selection: the grid replays the product's selection
        # (agreement across the t generations a setting uses) on these.
        draft = await self.synthesizer.draft(request, timeout_s=timeout_s)
        cpu, wall = self.clock.seconds() - cpu, time.monotonic() - wall
        tokens = draft.generation_tokens
        return tuple(
            AssertGeneration(
                asserts=generation.asserts, tokens=count, cpu_s=cpu * share, wall_s=wall * share
            )
            for generation, count, share in zip(
                draft.generations, tokens, _shares(tokens), strict=True
            )
        )


def _shares(tokens: tuple[int, ...]) -> list[float]:
    """Each sample's part of one request's seconds: the samples of a request are decoded
    together, so their time is split by the tokens each generated (equally when none did)."""
    total = sum(tokens)
    return [t / total if total else 1 / len(tokens) for t in tokens]


async def generate_record(
    problem: EvalProblem,
    tier: _Tier,
    *,
    samples: int,
    lines: int,
    seed: int,
    max_tokens: int,
    timeout_s: float = 900.0,
) -> GenerationRecord:
    """`samples` sampled solutions and test generations of `lines` lines, plus the greedy ones.

    Four requests, as the product makes them: the samples in one (the engine decodes them in one
    batch), the test generations in one, the greedy answer, the greedy tests. Each sample's
    seconds are its share of its request's, by tokens; a configuration using k of the samples is
    charged the first k shares.
    """
    sampled = (
        await tier.solutions(
            problem, n=samples, sampled=True, seed=seed, max_tokens=max_tokens, timeout_s=timeout_s
        )
        if samples
        else ()
    )
    empty = AssertGeneration((), 0, 0.0, 0.0)
    generations = (
        await tier.tests(
            problem, n=samples, sampled=True, seed=seed, lines=lines, timeout_s=timeout_s
        )
        if samples and lines
        else ()
    )
    (greedy,) = await tier.solutions(
        problem, n=1, sampled=False, seed=seed, max_tokens=max_tokens, timeout_s=timeout_s
    )
    greedy_tests = (
        (
            await tier.tests(
                problem, n=1, sampled=False, seed=seed, lines=lines, timeout_s=timeout_s
            )
        )[0]
        if lines
        else empty
    )
    return GenerationRecord(
        task_id=problem.task_id,
        tier=tier.name,
        samples=tuple(sampled),
        greedy=greedy,
        test_generations=tuple(generations),
        greedy_tests=greedy_tests,
        examples=prompt_examples(problem.problem).asserts,
        entry_point=problem.problem.entry_point,
    )


async def harvest_tier(
    cache: EvalCache,
    problems: list[EvalProblem],
    tier_name: str,
    registry: TierRegistry,
    clock: CpuClock,
    *,
    samples: int,
    lines: int,
    out: TextIO,
) -> int:
    """Generates what the cache lacks for one tier; returns how many problems were generated."""
    done = cache.generations(tier_name)
    todo = [p for p in problems if p.task_id not in done]
    if not todo:
        return 0
    tier = _Tier(registry, tier_name, clock)
    progress = Progress(f"{tier_name} generate", len(todo), out)
    settings = cache.settings
    for problem in todo:
        record = await generate_record(
            problem,
            tier,
            samples=samples,
            lines=lines,
            seed=settings.seed,
            max_tokens=settings.max_tokens,
        )
        cache.add_generation(record)
        tokens = sum(c.tokens for c in (*record.samples, record.greedy)) + sum(
            g.tokens for g in (*record.test_generations, record.greedy_tests)
        )
        progress.step(problem.task_id, f"{tokens} tokens")
    return len(todo)
