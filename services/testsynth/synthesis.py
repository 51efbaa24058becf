"""Asking one tier for its own assert tests and keeping only those worth running.

One call per request: t test generations come back as one n-sample completion, so the tier
evaluates the shared prompt once. Each generation is parsed on its own (first l valid asserts),
then all are deduplicated across generations and capped, with provenance kept for every test.
The task's own examples (docstring or MBPP example) come first, as generation -1, unless the
request leaves them out. This runs concurrently with the same tier's solution generation in the
router.
"""

from __future__ import annotations

from dataclasses import dataclass

from codecascade.testsynth.errors import UnknownTier
from codecascade.testsynth.examples import prompt_examples
from codecascade.testsynth.parsing import DroppedLine, defined_names, parse_asserts
from codecascade.testsynth.problem import Problem
from codecascade.testsynth.prompts import build_test_prompt
from codecascade.tiers.generation import SamplingParams
from codecascade.tiers.registry import TierRegistry

__all__ = ["SynthesisRequest", "SynthesisResult", "SynthesizedTest", "TestSynthesizer"]

# Tokens allowed per requested assert line, plus room for a code fence and a sentence.
_TOKENS_PER_LINE = 48
_TOKENS_OVERHEAD = 64


@dataclass(frozen=True, slots=True)
class SynthesisRequest:
    problem: Problem
    tier: str
    generations: int
    lines: int
    max_tests: int
    seed: int | None = None
    temperature: float | None = None  # None: greedy for one generation, 0.8 for several
    include_prompt_examples: bool = True


@dataclass(frozen=True, slots=True)
class SynthesizedTest:
    """A kept assert and where it came from."""

    __test__ = False

    code: str
    tier: str
    generation_index: int  # -1 for the task's own examples

    @property
    def from_prompt(self) -> bool:
        return self.generation_index < 0


@dataclass(frozen=True, slots=True)
class DroppedTest:
    line: DroppedLine
    generation_index: int


@dataclass(frozen=True, slots=True)
class SynthesisResult:
    tests: tuple[SynthesizedTest, ...]
    dropped: tuple[DroppedTest, ...]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float


class TestSynthesizer:
    """Prompts a tier for tests and filters what comes back."""

    __test__ = False

    def __init__(self, tiers: TierRegistry) -> None:
        self._tiers = tiers

    async def synthesize(self, request: SynthesisRequest, *, timeout_s: float) -> SynthesisResult:
        config = self._tiers.config(request.tier)
        client = self._tiers.client(request.tier)
        if config is None or client is None:
            known = ", ".join(self._tiers.names) or "none configured"
            raise UnknownTier(f"no tier named {request.tier!r} (known: {known})")
        problem = request.problem
        prompt = build_test_prompt(
            problem, lines=request.lines, instruct=config.prompt_format == "chat"
        )
        temperature = request.temperature
        if temperature is None:
            temperature = 0.8 if request.generations > 1 else 0.0
        params = SamplingParams(
            n=request.generations,
            temperature=temperature,
            top_p=0.95 if temperature > 0 else 1.0,
            max_tokens=_TOKENS_OVERHEAD + _TOKENS_PER_LINE * request.lines,
            stop=prompt.stop,
            seed=request.seed,
        )
        result = await client.generate(
            prompt.text, params, timeout_s=timeout_s, prompt_format=prompt.format
        )
        names = defined_names(problem.prompt)
        tests: list[SynthesizedTest] = []
        dropped: list[DroppedTest] = []
        seen: set[str] = set()
        generations = [
            parse_asserts(
                prompt.completion_prefix + text,
                entry_point=problem.entry_point,
                prompt_names=names,
                limit=request.lines,
            )
            for text in result.texts
        ]
        if request.include_prompt_examples:
            generations.insert(0, prompt_examples(problem))
        first = -1 if request.include_prompt_examples else 0
        for index, parsed in enumerate(generations, start=first):
            dropped.extend(DroppedTest(line, index) for line in parsed.dropped)
            for code in parsed.asserts:
                if code in seen:
                    dropped.append(
                        DroppedTest(DroppedLine(code, "duplicate of an earlier generation"), index)
                    )
                elif len(tests) >= request.max_tests:
                    dropped.append(
                        DroppedTest(
                            DroppedLine(code, f"over the cap of {request.max_tests} tests"), index
                        )
                    )
                else:
                    seen.add(code)
                    tests.append(SynthesizedTest(code, request.tier, index))
        return SynthesisResult(
            tests=tuple(tests),
            dropped=tuple(dropped),
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cost_usd=result.cost_usd,
            latency_s=result.latency_s,
        )
