"""The OpenAI edge's pure parts: request -> task, parameter rules, error shapes, settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from codecascade.cli.up import MeshFile, _plan, http_base_url
from codecascade.core.errors import (
    DeadlineExceeded,
    InvalidInput,
    NoFunctionToTest,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from codecascade.router.config import RouterSettings
from codecascade.router.openai.app import error_body
from codecascade.router.openai.mapping import (
    InvalidParameter,
    defined_function,
    designated_policy,
    first_tier_policy,
    map_request,
    parse_chat,
    parse_completion,
    with_max_tokens,
)
from codecascade.router.policy import CascadePolicy, TierPolicy
from codecascade.tenancy.errors import BudgetExhausted, RateLimited

HUMANEVAL = 'def inc(x: int) -> int:\n    """Return x + 1."""\n'
POLICY = CascadePolicy(
    tiers=(
        TierPolicy(tier="S", k=2, test_lines=2, max_tokens=256),
        TierPolicy(tier="M", k=2, test_lines=2, max_tokens=512),
        TierPolicy(tier="L", k=3, test_lines=2, max_tokens=512),
    )
)


def _chat(content, **params):
    return map_request(
        parse_chat(
            {"model": "cascade", "messages": [{"role": "user", "content": content}], **params}
        )
    )


def test_a_signature_with_a_docstring_is_a_humaneval_task() -> None:
    mapped = _chat(HUMANEVAL, seed=3, max_tokens=100, user="u1")
    assert (mapped.problem.style, mapped.problem.entry_point) == ("humaneval", "inc")
    assert (mapped.seed, mapped.max_tokens, mapped.user) == (3, 100, "u1")
    assert mapped.unverified_reason == ""


def test_a_fenced_signature_inside_prose_is_the_prompt() -> None:
    mapped = _chat(f"Please complete this:\n```python\n{HUMANEVAL}```\nThanks")
    assert mapped.problem.prompt.startswith("def inc") and mapped.problem.entry_point == "inc"


def test_a_natural_language_task_with_an_example_assert_is_mbpp() -> None:
    mapped = _chat("Write a function to reverse a string.\nassert rev('ab') == 'ba'")
    problem = mapped.problem
    assert (problem.style, problem.entry_point) == ("mbpp", "rev")
    assert problem.example_test == "assert rev('ab') == 'ba'"
    assert "assert" not in problem.prompt


def test_text_parts_and_the_extension_name_the_task() -> None:
    mapped = map_request(
        parse_chat(
            {
                "model": "cascade",
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Sum two numbers."}]}
                ],
                "codecascade": {"entry_point": "add", "max_tier": "M", "k": 3},
            }
        )
    )
    assert (mapped.problem.style, mapped.problem.entry_point) == ("mbpp", "add")
    assert (mapped.overrides.max_tier, mapped.overrides.k) == ("M", 3)


def test_a_task_naming_no_function_waits_for_the_first_tier_to_name_it() -> None:
    mapped = _chat("Print hello world.")
    assert mapped.problem.entry_point == "" and mapped.needs_entry_point
    assert "no function" in mapped.unverified_reason
    assert defined_function("import os\ndef a():\n    pass\ndef b():\n    a()\n") == "b"
    assert defined_function("print('hi')") == "" and defined_function("def (") == ""


def test_a_named_entry_point_that_cannot_be_tested_is_the_callers_error() -> None:
    with pytest.raises(NoFunctionToTest):
        _chat("Print hello.\nassert g(1) == 1", codecascade={"entry_point": "f"})


def test_completions_take_one_prompt() -> None:
    assert map_request(parse_completion({"model": "x", "prompt": [HUMANEVAL]})).problem
    with pytest.raises(InvalidParameter) as refused:
        map_request(parse_completion({"model": "x", "prompt": [HUMANEVAL, HUMANEVAL]}))
    assert refused.value.param == "prompt"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "assistant", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages"),
        ({"max_tokens": 20, "max_completion_tokens": 20}, "max_completion_tokens"),
        ({"stream_options": "yes"}, "stream_options"),
        ({"logit_bias": {"1": 2}}, "logit_bias"),
        ({"functions": []}, "functions"),
        ({"user": "u" * 300}, "user"),
    ],
)
def test_refusals_name_the_parameter(body, param) -> None:
    request = {"model": "cascade", "messages": [{"role": "user", "content": HUMANEVAL}], **body}
    with pytest.raises(InvalidParameter) as refused:
        map_request(parse_chat(request))
    assert refused.value.param == param


def test_max_tokens_caps_each_tier_and_the_designated_tier_is_the_last_allowed() -> None:
    capped = with_max_tokens(POLICY, 300)
    assert [t.max_tokens for t in capped.tiers] == [256, 300, 300]
    assert with_max_tokens(POLICY, None) is POLICY
    (only,) = designated_policy(POLICY).tiers
    assert (only.tier, only.k, only.test_lines) == ("L", 0, 0)
    assert designated_policy(POLICY, ceiling="M").tiers[0].tier == "M"
    assert designated_policy(POLICY, allowed=("S",)).tiers[0].tier == "S"
    (first,) = first_tier_policy(POLICY, allowed=("M", "L")).tiers
    assert (first.tier, first.k) == ("M", 0)


@pytest.mark.parametrize(
    ("exc", "status", "kind"),
    [
        (InvalidInput("x"), 400, "invalid_request_error"),
        (Unauthenticated("x"), 401, "authentication_error"),
        (PermissionDenied("x"), 403, "permission_error"),
        (NotFound("x"), 404, "invalid_request_error"),
        (ResourceExhausted("x"), 429, "rate_limit_error"),
        (RateLimited("x", retry_after_s=3.0), 429, "rate_limit_error"),
        (Unavailable("x"), 503, "service_unavailable"),
        (DeadlineExceeded("x"), 504, "timeout"),
        (RuntimeError("secret detail"), 500, "server_error"),
    ],
)
def test_error_shapes(exc, status, kind) -> None:
    got_status, body = error_body(exc)
    assert got_status == status
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == kind
    assert "secret" not in body["error"]["message"]


def test_budget_exhausted_is_insufficient_quota() -> None:
    exc = BudgetExhausted("spent", scope="tenant_period", remaining_usd=0.0)
    assert error_body(exc)[1]["error"]["code"] == "insufficient_quota"


def test_http_settings_from_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HTTP_PORT", "8123")
    monkeypatch.setenv("HTTP_HOST", "0.0.0.0")
    monkeypatch.setenv("POLICIES", '{"budget-1": "/p.yaml"}')
    settings = RouterSettings(testsynth_addr="a:1", sandbox_addr="b:1", policy_file=Path("p"))
    assert (settings.http_port, settings.http_host, settings.http_enabled) == (
        8123,
        "0.0.0.0",
        True,
    )
    assert settings.policies == {"budget-1": Path("/p.yaml")}
    monkeypatch.setenv("POLICIES", '{"cascade": "/p.yaml"}')
    with pytest.raises(ValueError, match="not 'cascade'"):
        RouterSettings(testsynth_addr="a:1", sandbox_addr="b:1", policy_file=Path("p"))


def test_cascade_up_gives_the_router_an_http_port_on_loopback(tmp_path: Path) -> None:
    children = _plan(MeshFile.load(None), tmp_path, 50060, False, 8123)
    router = children[-1]
    assert (router.env["HTTP_HOST"], router.env["HTTP_PORT"]) == ("127.0.0.1", "8123")
    assert http_base_url(router) == "http://127.0.0.1:8123/v1"
