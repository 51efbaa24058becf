"""The chart's `tiers[]` item is `codecascade.core.tiers.TierSpec`: one tier shape, not two.

Every TierSpec field is a key of the chart's tier item, with the same type, bounds, enum and
description as `TierSpec.model_json_schema()` gives it, except the three the backend decides
(protocol, address and the API key come from `external`, or are the release's own Service).
Needs no helm: it reads values.schema.json only.
"""

from __future__ import annotations

import json
import re
from typing import Any

from codecascade.core.tiers import TIER_NAME_PATTERN, TierSpec

from .conftest import CHART

# Keys of the chart's tier item that say what serves the tier and where it runs, not how to call it.
DEPLOYMENT_KEYS = {
    "backend",
    "annotations",
    "labels",
    "podAnnotations",
    "podLabels",
    "kserve",
    "huggingface",
    "triton",
    "external",
    "resources",
    "envOverrides",
    "runtimeClassName",
    "priorityClassName",
    "nodeSelector",
    "tolerations",
    "affinity",
}
# TierSpec fields the chart derives from the backend rather than taking as a key.
FROM_BACKEND = {"protocol", "address", "api_key"}
# Pydantic annotations a values file never states (the defaults are the code's).
NOT_SCHEMA = {"title", "default"}


def _tier_item() -> dict[str, Any]:
    schema = json.loads((CHART / "values.schema.json").read_text())
    item: dict[str, Any] = schema["properties"]["tiers"]["items"]
    return item


def _spec_properties() -> dict[str, dict[str, Any]]:
    properties: dict[str, dict[str, Any]] = TierSpec.model_json_schema()["properties"]
    return {
        name: {k: v for k, v in prop.items() if k not in NOT_SCHEMA}
        for name, prop in properties.items()
    }


def test_the_tier_item_has_exactly_the_spec_fields() -> None:
    chart_keys = set(_tier_item()["properties"])
    assert chart_keys - DEPLOYMENT_KEYS == set(TierSpec.model_fields) - FROM_BACKEND


def test_each_spec_field_has_the_same_schema_in_the_chart() -> None:
    chart = _tier_item()["properties"]
    for name, expected in _spec_properties().items():
        if name in FROM_BACKEND:
            continue
        got = dict(chart[name])
        if name == "name":
            # The chart narrows names to what Kubernetes object names and env vars allow.
            assert set(got) == set(expected), name
            assert got["type"] == expected["type"]
            continue
        assert got == expected, f"tiers[].{name} in values.schema.json: {got} != {expected}"


def test_the_chart_names_are_names_the_spec_accepts() -> None:
    chart_pattern = _tier_item()["properties"]["name"]["pattern"]
    candidates = ["S", "m", "tier-1", "a" * 20, "a" * 21, "-a", "a-", "a.b", "a_b", "", "A1-b2"]
    for candidate in candidates:
        if re.fullmatch(chart_pattern, candidate):
            assert re.fullmatch(TIER_NAME_PATTERN, candidate), candidate


def test_the_external_backend_gives_the_spec_protocols() -> None:
    external = _tier_item()["properties"]["external"]["properties"]
    spec = _spec_properties()
    assert external["protocol"]["enum"] == spec["protocol"]["enum"]
    assert external["address"]["type"] == spec["address"]["type"]
