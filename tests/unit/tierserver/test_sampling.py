"""sampling_parameters parsing: Triton/vLLM keys, strict types and bounds, unknown keys refused."""

from __future__ import annotations

import pytest

from codecascade.core.errors import InvalidInput
from codecascade.core.sampling import SamplingParams
from codecascade.tierserver.generation import SamplingLimits, parse_sampling_parameters

LIMITS = SamplingLimits(max_samples=8, default_max_tokens=64, max_tokens_limit=256)


def test_defaults_when_absent() -> None:
    for raw in (None, "", b"", "{}"):
        assert parse_sampling_parameters(raw, LIMITS) == SamplingParams(max_tokens=64)


def test_full_object() -> None:
    params = parse_sampling_parameters(
        '{"n": 3, "temperature": 0.8, "top_p": 0.95, "max_tokens": 100, "stop": ["\\n\\n"],'
        ' "seed": 7}',
        LIMITS,
    )
    assert params == SamplingParams(
        n=3, temperature=0.8, top_p=0.95, max_tokens=100, stop=("\n\n",), seed=7
    )
    assert not params.greedy
    assert parse_sampling_parameters({"stop": "END"}, LIMITS).stop == ("END",)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("not json", "not valid JSON"),
        ("[1]", "JSON object"),
        ('{"max_token": 5}', "unknown sampling_parameters max_token"),
        ('{"n": 0}', "n=0"),
        ('{"n": 9}', "n=9"),
        ('{"n": 2.5}', "must be an integer"),
        ('{"n": true}', "must be an integer"),
        ('{"temperature": -1}', "temperature"),
        ('{"temperature": "hot"}', "must be a number"),
        ('{"top_p": 0}', "top_p"),
        ('{"top_p": 1.5}', "top_p"),
        ('{"max_tokens": 0}', "max_tokens"),
        ('{"max_tokens": 257}', "max_tokens"),
        ('{"stop": [""]}', "stop"),
        ('{"stop": [1]}', "stop"),
        ('{"seed": -1}', "seed"),
        (b"\xff", "not valid JSON"),
    ],
)
def test_rejections_name_the_problem(raw: str | bytes, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        parse_sampling_parameters(raw, LIMITS)
