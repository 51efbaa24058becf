"""Asking a tier for k candidate solutions and turning each answer into a runnable program.

Instruction models get the task in a chat message and answer in a fenced block; base models
continue the stub directly. Either way the result is a whole program: the prompt's imports, then
the model's code when it defines the entry point, else the stub completed by the model's text.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace

from codecascade.core.code import extract_code
from codecascade.core.sampling import PromptFormat, SamplingParams
from codecascade.core.task import Problem
from codecascade.core.usage import Usage
from codecascade.router.policy import TierPolicy
from codecascade.router.ports import Candidates
from codecascade.tierclient.errors import TierUnavailable
from codecascade.tierclient.registry import TierRegistry

__all__ = [
    "CHAT_STOPS",
    "SolutionPrompt",
    "TierSolutionWriter",
    "assemble_solution",
    "sampling_for",
    "solution_prompt",
]

_BASE_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\nassert")
# Chat answers end at the code block's closing fence: what follows is prose nobody runs, and
# every generated token is paid for. The opening fence carries a language tag ("```python"),
# so only the closing fence matches.
CHAT_STOPS = ("\n```\n",)


@dataclass(frozen=True, slots=True)
class SolutionPrompt:
    text: str
    format: PromptFormat
    stop: tuple[str, ...] = ()


def solution_prompt(problem: Problem, *, instruct: bool) -> SolutionPrompt:
    """The prompt asking for one complete solution. A task with no entry point (nothing to
    verify; the OpenAI edge's designated tier answers it) asks for code, unconstrained."""
    if not problem.entry_point:
        if instruct:
            return SolutionPrompt(
                f"You are an expert Python programmer, and here is your task: "
                f"{problem.prompt.strip()}\nAnswer with Python code in a single ```python block.",
                "chat",
                CHAT_STOPS,
            )
        task = "\n".join(f"# {line}" for line in problem.prompt.strip().splitlines())
        return SolutionPrompt(f"{task}\n", "raw", ("\nif __name__", "\n# ", "\nprint("))
    if not instruct:
        if problem.style == "humaneval":
            return SolutionPrompt(problem.prompt, "raw", _BASE_STOPS)
        example = f"# {problem.example_test}\n" if problem.example_test else ""
        return SolutionPrompt(
            f"# {problem.prompt.strip()}\n{example}def {problem.entry_point}(",
            "raw",
            _BASE_STOPS,
        )
    if problem.style == "humaneval":
        text = (
            "Complete the following Python function. Answer with the whole function, including "
            f"any imports it needs, in a single ```python block.\n\n```python\n{problem.prompt}```"
        )
    else:
        example = (
            f"\nYour code should pass this test:\n\n{problem.example_test}\n"
            if problem.example_test
            else ""  # a natural-language task whose function a tier named (OpenAI edge)
        )
        text = (
            f"You are an expert Python programmer, and here is your task: {problem.prompt.strip()}"
            f"{example}\n"
            f"Write the function `{problem.entry_point}` in a single ```python block."
        )
    return SolutionPrompt(text, "chat", CHAT_STOPS)


def sampling_for(tier: TierPolicy, *, seed: int | None) -> SamplingParams:
    """k samples at the tier's temperature, or one greedy answer when k <= 1 (DESIGN §1); a
    batch of an early-exit tier (`batch` set) samples even when it asks for one."""
    count = max(tier.k, 1)
    greedy = tier.k <= 1 and not (tier.k == 1 and tier.batch)
    return SamplingParams(
        n=count,
        temperature=0.0 if greedy else tier.temperature,
        top_p=1.0 if greedy else tier.top_p,
        max_tokens=tier.max_tokens,
        seed=seed,
    )


def _prompt_imports(prompt: str) -> str:
    lines = []
    for line in prompt.splitlines():
        stripped = line.strip()
        if line == stripped and stripped.startswith(("import ", "from ")):
            lines.append(stripped)
    return "\n".join(lines)


def _defines(code: str, name: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
        for node in ast.walk(tree)
    )


def assemble_solution(problem: Problem, answer: str, *, prompt: SolutionPrompt) -> str:
    """A complete program from one model answer; syntax errors are the sandbox's to report."""
    imports = _prompt_imports(problem.prompt)
    if prompt.format == "raw":
        body = prompt.text + answer
    else:
        code = extract_code(answer)
        if _defines(code, problem.entry_point):
            body = code
        elif problem.style == "humaneval":
            body = problem.prompt + code  # the model answered with the body only
        else:
            body = code
    missing = [line for line in imports.splitlines() if line not in body.splitlines()]
    return "\n".join([*missing, body]) if missing else body


class TierSolutionWriter:
    """Solutions straight from the configured tier clients (one n-sample call per tier)."""

    def __init__(self, tiers: TierRegistry) -> None:
        self._tiers = tiers

    async def write_solutions(
        self, tier: TierPolicy, problem: Problem, *, seed: int | None, timeout_s: float
    ) -> Candidates:
        config = self._tiers.config(tier.tier)
        client = self._tiers.client(tier.tier)
        if config is None or client is None:
            raise TierUnavailable(f"no endpoint configured for tier {tier.tier}")
        prompt = solution_prompt(problem, instruct=config.prompt_format == "chat")
        params = sampling_for(tier, seed=seed)
        if prompt.stop:
            params = replace(params, stop=prompt.stop)
        result = await client.generate(
            prompt.text, params, timeout_s=timeout_s, prompt_format=prompt.format
        )
        codes = tuple(assemble_solution(problem, text, prompt=prompt) for text in result.texts)
        usage = Usage(result.prompt_tokens, result.completion_tokens, result.cost_usd)
        return Candidates(codes, usage, result.latency_s)
