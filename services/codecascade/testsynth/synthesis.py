"""Asking one tier for its own assert tests and keeping only those worth running.

One call per request: t test generations come back as one n-sample completion, so the tier
evaluates the shared prompt once. Each generation is parsed on its own (first l valid asserts),
then the generations vote (`agreement`: a claim the task's examples or the other generations
contradict is dropped, and a lone claim about a long input too), and what survives is
deduplicated and capped, most-agreed first, with provenance kept for every test.
The task's own examples (docstring or MBPP example) come first, as generation -1, unless the
request leaves them out. This runs concurrently with the same tier's solution generation in the
router.
"""

from __future__ import annotations

from dataclasses import dataclass

from codecascade.core.sampling import SamplingParams
from codecascade.core.task import Problem
from codecascade.testsynth.agreement import DEFAULT_RULE, AgreementRule, select_by_agreement
from codecascade.testsynth.errors import UnknownTier
from codecascade.testsynth.examples import prompt_examples
from codecascade.testsynth.parsing import (
    DroppedLine,
    ParsedGeneration,
    defined_names,
    parse_asserts,
)
from codecascade.testsynth.prompts import build_test_prompt
from codecascade.tierclient.registry import TierRegistry

__all__ = [
    "AssertSynthesizer",
    "Draft",
    "SynthesisRequest",
    "SynthesisResult",
    "SynthesizedTest",
    "finalize",
]

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
    # When generations must agree before an assert is kept (agreement.py).
    agreement: AgreementRule = DEFAULT_RULE


@dataclass(frozen=True, slots=True)
class SynthesizedTest:
    """A kept assert and where it came from."""

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
class Draft:
    """What one tier call wrote, parsed per generation, and what it cost."""

    generations: tuple[ParsedGeneration, ...]
    examples: ParsedGeneration | None  # the task's own examples, when the request wants them
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float
    generation_tokens: tuple[int, ...] = ()  # each generation's share of completion_tokens


@dataclass(frozen=True, slots=True)
class SynthesisResult:
    tests: tuple[SynthesizedTest, ...]
    dropped: tuple[DroppedTest, ...]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float


class AssertSynthesizer:
    """Prompts a tier for tests and filters what comes back."""

    def __init__(self, tiers: TierRegistry) -> None:
        self._tiers = tiers

    async def synthesize(self, request: SynthesisRequest, *, timeout_s: float) -> SynthesisResult:
        return finalize(request, await self.draft(request, timeout_s=timeout_s))

    async def draft(self, request: SynthesisRequest, *, timeout_s: float) -> Draft:
        """The tier's generations, each parsed on its own, before any selection across them."""
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
        parsed = [
            parse_asserts(
                prompt.completion_prefix + text,
                entry_point=problem.entry_point,
                prompt_names=names,
                limit=request.lines,
            )
            for text in result.texts
        ]
        return Draft(
            generations=tuple(parsed),
            examples=prompt_examples(problem) if request.include_prompt_examples else None,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cost_usd=result.cost_usd,
            latency_s=result.latency_s,
            generation_tokens=result.tokens_per_sample(),
        )


def finalize(request: SynthesisRequest, draft: Draft) -> SynthesisResult:
    """The tests a request gets from its draft (pure, so a benchmark can replay the selection)."""
    tests, dropped = _select(request, list(draft.generations), draft.examples)
    return SynthesisResult(
        tests=tuple(tests),
        dropped=tuple(dropped),
        prompt_tokens=draft.prompt_tokens,
        completion_tokens=draft.completion_tokens,
        cost_usd=draft.cost_usd,
        latency_s=draft.latency_s,
    )


def _select(
    request: SynthesisRequest,
    parsed: list[ParsedGeneration],
    examples: ParsedGeneration | None,
) -> tuple[list[SynthesizedTest], list[DroppedTest]]:
    """The task's examples first, then the model's asserts the generations agree on, capped."""
    dropped = [DroppedTest(line, index) for index, p in enumerate(parsed) for line in p.dropped]
    selection = select_by_agreement(
        [p.asserts for p in parsed],
        entry_point=request.problem.entry_point,
        examples=examples.asserts if examples else (),
        rule=request.agreement,
    )
    dropped.extend(
        DroppedTest(DroppedLine(r.code, r.reason), r.generation_index) for r in selection.rejected
    )
    candidates: list[tuple[str, int]] = []
    if examples is not None:
        dropped.extend(DroppedTest(line, -1) for line in examples.dropped)
        candidates.extend((code, -1) for code in examples.asserts)
    candidates.extend((t.code, t.generation_index) for t in selection.kept)
    tests: list[SynthesizedTest] = []
    seen: set[str] = set()
    for code, index in candidates:
        if code in seen:
            reason = "duplicate of an earlier generation"
        elif len(tests) >= request.max_tests:
            reason = f"over the cap of {request.max_tests} tests"
        else:
            seen.add(code)
            tests.append(SynthesizedTest(code, request.tier, index))
            continue
        dropped.append(DroppedTest(DroppedLine(code, reason), index))
    return tests, dropped
