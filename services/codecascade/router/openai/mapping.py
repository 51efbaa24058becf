"""OpenAI requests in, cascade tasks out: the request schemas, parameter rules, task mapping.

Every documented parameter is either honoured or refused with a 400 that says why (`n`,
`temperature`, `max_tokens`, `seed`, `stop`, `user`, `stream`); an argument the API does not
know is refused as OpenAI refuses it, except the few listed in `HARMLESS` that change nothing
at their neutral values (at any other value they are refused too). See docs/openai.md.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from codecascade.core.code import extract_code
from codecascade.core.errors import InvalidInput, NoFunctionToTest
from codecascade.core.task import Problem, make_problem
from codecascade.router.policy import CascadePolicy, RequestOverrides, TierPolicy, up_to

__all__ = [
    "HARMLESS",
    "MAX_PROMPT_BYTES",
    "MIN_MAX_TOKENS",
    "CascadeOptions",
    "ChatRequest",
    "CompletionRequest",
    "InvalidParameter",
    "Mapped",
    "defined_function",
    "designated_policy",
    "first_tier_policy",
    "map_request",
    "parse_chat",
    "parse_completion",
    "with_max_tokens",
]

MAX_PROMPT_BYTES = 32 * 1024
# The smallest per-solution token cap a tier policy allows (TierPolicy.max_tokens).
MIN_MAX_TOKENS = 16


_R = TypeVar("_R", bound=BaseModel)


class InvalidParameter(InvalidInput):
    """A request parameter the cascade cannot honour; `param` names it (OpenAI's `param`)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _neutral(*values: object) -> Callable[[object], bool]:
    return lambda value: value in values


# Arguments of the OpenAI API that change nothing here at their neutral value (null or the value
# named): accepted then, refused with a 400 otherwise.
HARMLESS: Mapping[str, Callable[[object], bool]] = {
    "top_p": _neutral(None, 1, 1.0),
    "frequency_penalty": _neutral(None, 0, 0.0),
    "presence_penalty": _neutral(None, 0, 0.0),
    "logprobs": _neutral(None, False, 0),
    "top_logprobs": _neutral(None, 0),
    "logit_bias": lambda v: v is None or v == {},
    "echo": _neutral(None, False),
    "best_of": _neutral(None, 1),
    "suffix": _neutral(None, ""),
    "stream_options": lambda v: v is None or isinstance(v, dict),
    "metadata": lambda v: v is None or isinstance(v, dict),
    "store": _neutral(None, False),
    "tools": lambda v: v is None or v == [],
    "tool_choice": _neutral(None, "none", "auto"),
    "parallel_tool_calls": _neutral(None, True, False),
    "response_format": lambda v: v is None or v == {"type": "text"},
    "service_tier": _neutral(None, "auto", "default"),
}


class CascadeOptions(BaseModel):
    """The `codecascade` request extension: the task's parts and the cascade's overrides."""

    model_config = ConfigDict(extra="forbid")

    entry_point: str = Field(default="", description="The function under test.")
    example_test: str = Field(default="", description="An example assert (MBPP style).")
    max_tier: str = ""
    threshold: float | None = None
    k: int | None = None
    cost_cap_usd: float | None = None
    deadline_s: float | None = None


class _Common(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    stream: bool | None = False
    n: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    user: str | None = None
    codecascade: CascadeOptions | None = None


class _TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str = ""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[_TextPart] | None = None


class ChatRequest(_Common):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = None


class CompletionRequest(_Common):
    prompt: str | list[str]


@dataclass(frozen=True, slots=True)
class Mapped:
    """A request ready for the gateway. `problem.entry_point` is empty when the task names no
    function (`needs_entry_point`; `unverified_reason` says why make_problem found none)."""

    model: str
    problem: Problem
    overrides: RequestOverrides
    seed: int | None
    max_tokens: int | None
    user: str
    stream: bool
    include_usage: bool
    unverified_reason: str = ""
    # A natural-language task naming no function: the first tier's greedy answer names it.
    needs_entry_point: bool = False


def _parse(kind: type[_R], body: object) -> _R:
    if not isinstance(body, dict):
        raise InvalidParameter("the request body must be a JSON object")
    try:
        return kind.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidParameter(f"{param or 'body'}: {first['msg']}", param) from exc


def _check_extras(request: BaseModel) -> None:
    for name, value in (request.model_extra or {}).items():
        neutral = HARMLESS.get(name)
        if neutral is None:
            raise InvalidParameter(f"Unrecognized request argument supplied: {name}", name)
        if not neutral(value):
            raise InvalidParameter(
                f"{name} = {value!r} is not supported by the cascade; omit it or send its "
                "neutral value (docs/openai.md lists them)",
                name,
            )


def _check_common(request: _Common, max_tokens: int | None) -> None:
    if request.n not in (None, 1):
        raise InvalidParameter(
            "n must be 1: the cascade returns one answer, chosen by executing its candidates "
            "(ask for more candidates per tier with codecascade.k)",
            "n",
        )
    if request.temperature is not None:
        raise InvalidParameter(
            "temperature is set per tier by the cascade policy (k samples at the tier's "
            "temperature, greedy when k <= 1); omit it, or pick another policy with `model`",
            "temperature",
        )
    if request.stop not in (None, [], ""):
        raise InvalidParameter(
            "stop is not supported: the cascade ends each candidate at its own stop sequences "
            "so that it can be executed; omit it",
            "stop",
        )
    if max_tokens is not None and max_tokens < MIN_MAX_TOKENS:
        raise InvalidParameter(
            f"max_tokens must be at least {MIN_MAX_TOKENS} (the cap on each candidate solution)",
            "max_tokens",
        )
    if request.user is not None and len(request.user) > 256:
        raise InvalidParameter("user must be at most 256 characters", "user")


def parse_chat(body: object) -> ChatRequest:
    request = _parse(ChatRequest, body)
    _check_extras(request)
    if request.max_tokens is not None and request.max_completion_tokens is not None:
        raise InvalidParameter(
            "send max_tokens or max_completion_tokens, not both", "max_completion_tokens"
        )
    _check_common(request, request.max_completion_tokens or request.max_tokens)
    return request


def parse_completion(body: object) -> CompletionRequest:
    request = _parse(CompletionRequest, body)
    _check_extras(request)
    _check_common(request, request.max_tokens)
    return request


def _chat_text(request: ChatRequest) -> str:
    last = request.messages[-1]
    if last.role != "user":
        raise InvalidParameter(
            f"the last message must be the user's task; got role {last.role!r}", "messages"
        )
    if last.content is None:
        raise InvalidParameter("the last message has no content", "messages")
    if isinstance(last.content, str):
        return last.content
    texts = []
    for part in last.content:
        if part.type != "text":
            raise InvalidParameter(
                f"only text content parts are supported; got {part.type!r}", "messages"
            )
        texts.append(part.text)
    return "\n".join(texts)


_FENCE = re.compile(r"```")
_ASSERT = re.compile(r"^\s*assert\s")


def _split_task(text: str) -> tuple[str, str]:
    """The task and its example asserts: a fenced code block becomes the prompt when it holds a
    function (HumanEval style); otherwise lines starting with `assert` are the example."""
    if _FENCE.search(text):
        code = extract_code(text)
        if re.search(r"^\s*(async\s+)?def\s", code, re.MULTILINE):
            text = code
    lines = text.splitlines()
    asserts = [line.strip() for line in lines if _ASSERT.match(line)]
    if not asserts or re.search(r"^\s*(async\s+)?def\s", text, re.MULTILINE):
        return text.strip("\n") + "\n", ""
    rest = [line for line in lines if not _ASSERT.match(line)]
    return "\n".join(rest).strip() + "\n", "\n".join(asserts)


def _problem(text: str, options: CascadeOptions) -> tuple[Problem, str]:
    """The cascade task, and a reason when nothing in it can be verified (then the problem's
    entry point is empty)."""
    if not text.strip():
        raise InvalidParameter("the prompt is empty: send a function signature or a task", None)
    if len(text.encode()) > MAX_PROMPT_BYTES:
        raise InvalidParameter(f"the prompt is larger than {MAX_PROMPT_BYTES} bytes", None)
    prompt, example = _split_task(text)
    example = options.example_test or example
    try:
        problem = make_problem(prompt, entry_point=options.entry_point, example_test=example)
    except NoFunctionToTest as exc:
        if options.entry_point or options.example_test:
            raise  # what the caller named cannot be tested: their error
        return Problem(prompt, "", "mbpp"), str(exc)
    return problem, ""


def defined_function(code: str) -> str:
    """The last top-level function a solution defines (its entry point), or ""."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ""
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    return names[-1] if names else ""


def map_request(request: ChatRequest | CompletionRequest) -> Mapped:
    """The cascade's task and overrides for a parsed request."""
    if isinstance(request, ChatRequest):
        text = _chat_text(request)
        max_tokens = request.max_completion_tokens or request.max_tokens
    else:
        if isinstance(request.prompt, list):
            if len(request.prompt) != 1:
                raise InvalidParameter("prompt must be one string (one task per request)", "prompt")
            text = request.prompt[0]
        else:
            text = request.prompt
        max_tokens = request.max_tokens
    options = request.codecascade or CascadeOptions()
    problem, no_function = _problem(text, options)
    overrides = RequestOverrides(
        max_tier=options.max_tier,
        threshold=options.threshold,
        k=options.k,
        cost_cap_usd=options.cost_cap_usd,
        deadline_s=options.deadline_s,
    )
    extras: dict[str, Any] = request.model_extra or {}
    stream_options = extras.get("stream_options") or {}
    return Mapped(
        model=request.model,
        problem=problem,
        overrides=overrides,
        seed=request.seed,
        max_tokens=max_tokens,
        user=request.user or "",
        stream=bool(request.stream),
        include_usage=bool(stream_options.get("include_usage")),
        needs_entry_point=bool(no_function),
        unverified_reason=no_function,
    )


def with_max_tokens(policy: CascadePolicy, max_tokens: int | None) -> CascadePolicy:
    """The policy with each tier's tokens per solution capped at `max_tokens` (OpenAI's
    max_tokens, honoured as the cap on every candidate; the budget reservation shrinks too)."""
    if max_tokens is None:
        return policy
    tiers = tuple(
        t.model_copy(update={"max_tokens": min(t.max_tokens, max_tokens)}) for t in policy.tiers
    )
    return policy.model_copy(update={"tiers": tiers})


def _usable(policy: CascadePolicy, ceiling: str, allowed: tuple[str, ...]) -> list[TierPolicy]:
    active = [t for t in policy.tiers if t.active]
    names = [t.tier for t in active]
    if ceiling in names:
        active = list(up_to(active, ceiling))
    if allowed:
        active = [t for t in active if t.tier in allowed] or active  # the gateway refuses
    return active


def first_tier_policy(
    policy: CascadePolicy, ceiling: str = "", *, allowed: tuple[str, ...] = ()
) -> CascadePolicy:
    """The policy for naming a natural-language task's function: the first tier the caller may
    use, one greedy answer (k = 0)."""
    chosen = _usable(policy, ceiling, allowed)[0].model_copy(
        update={"k": 0, "test_lines": 0, "test_generations": 0}
    )
    return policy.model_copy(
        update={"tiers": (chosen,), "description": f"naming the function with {chosen.tier}"}
    )


def designated_policy(
    policy: CascadePolicy, *, allowed: tuple[str, ...] = (), ceiling: str = ""
) -> CascadePolicy:
    """The policy for a task nothing can verify: its designated tier alone, greedy (k = 0), no
    tests. The designated tier is the most capable one the caller may use: the last active tier
    up to the tenant's `max_tier`, among its allowed tiers."""
    chosen = _usable(policy, ceiling, allowed)[-1].model_copy(
        update={"k": 0, "test_lines": 0, "test_generations": 0}
    )
    return policy.model_copy(
        update={"tiers": (chosen,), "description": f"designated tier {chosen.tier}, unverified"}
    )
